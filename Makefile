# Sealy: the two commands are `make dev` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install dev test lint format lock migrate revision clean seed bench fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(STAMP): pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python 3.12+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP) ## create .venv with the locked dependencies

dev: install ## serve the whole API on http://localhost:$${PORT:-8080} (embedded PostgreSQL unless DATABASE_URL)
	$(BIN)/python -m devtools.dev

test: install ## run the whole test suite (embedded PostgreSQL unless DATABASE_URL), with coverage; PYTEST_ARGS=...
	@rm -rf .sealy/coverage && mkdir -p .sealy/coverage
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	@$(BIN)/python -m coverage combine -q
	@$(BIN)/python -m coverage report --sort=cover --skip-covered

lint: install ## ruff (lint + format check), mypy on common/, infra and workflow checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	bash scripts/lint_infra.sh

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock: install ## re-resolve requirements/*.txt from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 -q -o requirements/runtime.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 -q --extra notifications -o requirements/runtime-notifications.txt
	$(BIN)/uv pip compile pyproject.toml --python-version 3.12 -q --extra dev --extra notifications -o requirements/dev.txt

migrate: install ## alembic upgrade head on DATABASE_URL
	$(BIN)/alembic upgrade head

revision: install ## new migration from the models: make revision m="what changes"
	$(BIN)/alembic revision --autogenerate -m "$(m)"

seed: install ## load realistic data (COPY) into DATABASE_URL, else the embedded server under .sealy/bench; SCALE=0.01 for a small one
	$(BIN)/python scripts/seed.py --migrate --scale $(or $(SCALE),1) $(SEED_ARGS)

bench: install ## hot routes against the floor, cold starts, imports (seeds .sealy/bench on first use); BENCH_ARGS=...
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

fuzz: install ## schemathesis on the whole API from its OpenAPI documents (bounded; FUZZ_ARGS=...)
	$(BIN)/python scripts/fuzz.py $(FUZZ_ARGS)

clean: ## remove .venv, build/ and the dev database under .sealy/
	rm -rf $(VENV) build .sealy .pytest_cache .mypy_cache .ruff_cache
