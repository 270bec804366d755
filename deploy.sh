#!/usr/bin/env bash
# Deploy one Cloud Function, or all of them, from functions.json.
#
#   ./deploy.sh <function>|all [--dry-run]
#
# For each function: stage build/<fn>/ (main.py, a copy of common/, a pinned
# requirements.txt with only what that function needs) and build/<fn>.zip
# (scripts/stage_function.py), upload the zip as gs://<sources bucket>/<fn>/<hash>.zip,
# then `gcloud functions deploy --gen2` with the settings from functions.json
# (scripts/deploy_plan.py builds the exact commands), labelled with the digest of what
# it sets (sealy-deploy; scripts/changed_functions.py compares it with what is deployed).
# deploy.sh is the only owner of the functions' code: Terraform creates each function
# with a placeholder and ignores its source from then on (docs/deployment.md).
#
# --dry-run stages and prints the commands, one per line, without calling gcloud.
#
# Configuration (SEALY_PROJECT, SEALY_REGION, SEALY_API_HOST, SEALY_SECRET_VERSIONS,
# SEALY_JWT_SIGNING_KID, SEALY_FIREBASE_PROJECT, SEALY_CORS_ORIGINS, SEALY_GOOGLE_CLIENT_IDS,
# SEALY_APPLE_CLIENT_IDS, SEALY_SMTP_HOST/PORT/USER/FROM) comes from the
# environment, then from $SEALY_DEPLOY_ENV (default .sealy/deploy.env, written by
# `terraform -chdir=infra output -raw deploy_env`). See docs/deployment.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROG="deploy.sh"

usage() {
  cat <<EOF
usage: ./deploy.sh <function>|all [--dry-run]

  <function>  one name from functions.json: $(list_functions)
  all         every function in functions.json
  --dry-run   stage build/<function>/ and print the gcloud commands without running them
EOF
}

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 2
}

list_functions() {
  python3 - "$ROOT" <<'PY' 2>/dev/null || echo "(functions.json unreadable)"
import json, sys
print(" ".join(f["name"] for f in json.load(open(sys.argv[1] + "/functions.json"))["functions"]))
PY
}

# Read KEY=VALUE lines from a file into the environment, without overriding
# variables that are already set and without evaluating anything.
load_env_file() {
  local file="$1" line key value
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^[[:space:]]*(export[[:space:]]+)?([A-Z_][A-Z0-9_]*)=(.*)$ ]] ||
      die "$file: cannot read line: $line"
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    value="${value%\"}"
    value="${value#\"}"
    [[ -n "${!key:-}" ]] || export "$key=$value"
  done <"$file"
}

# Run the commands that deploy_plan.py wrote NUL-separated, an empty argument
# ending each command.
run_plan() {
  local arg
  local -a cmd=()
  while IFS= read -r -d '' arg; do
    if [[ -n "$arg" ]]; then
      cmd+=("$arg")
      continue
    fi
    printf '+ %s\n' "${cmd[*]}" >&2
    "${cmd[@]}"
    cmd=()
  done <"$1"
}

main() {
  local target="" arg
  DRY_RUN=0
  for arg in "$@"; do
    case "$arg" in
      --dry-run) DRY_RUN=1 ;;
      -h | --help)
        usage
        exit 0
        ;;
      -*) die "unknown option $arg (see ./deploy.sh --help)" ;;
      *)
        [[ -z "$target" ]] || die "one target only: a function name or 'all'"
        target="$arg"
        ;;
    esac
  done
  command -v python3 >/dev/null 2>&1 || die "python3 is required (it stages the functions)"
  if [[ -z "$target" ]]; then
    usage >&2
    exit 2
  fi

  load_env_file "${SEALY_DEPLOY_ENV:-$ROOT/.sealy/deploy.env}"
  export SEALY_BUILD_DIR="${SEALY_BUILD_DIR:-$ROOT/build}"

  # Fails with the list of known names for a typo, and with every missing setting.
  python3 "$ROOT/scripts/deploy_plan.py" check "$target" || exit 2
  if [[ "$DRY_RUN" == 0 ]] && ! command -v gcloud >/dev/null 2>&1; then
    die "gcloud is not installed or not on PATH: install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), or use --dry-run"
  fi

  local staged fn hash
  staged="$(python3 "$ROOT/scripts/stage_function.py" --build-dir "$SEALY_BUILD_DIR" "$target")" ||
    exit 2
  PLAN_FILE="$(mktemp)"
  trap 'rm -f "$PLAN_FILE"' EXIT
  while read -r fn hash; do
    printf '%s: staged %s/%s (source %s)\n' "$PROG" "$SEALY_BUILD_DIR" "$fn" "${hash:0:12}" >&2
    if [[ "$DRY_RUN" == 1 ]]; then
      # The exact commands, one per line, quoted for a POSIX shell.
      python3 "$ROOT/scripts/deploy_plan.py" show "$fn" "$hash" || exit 2
      continue
    fi
    python3 "$ROOT/scripts/deploy_plan.py" commands "$fn" "$hash" >"$PLAN_FILE" || exit 2
    run_plan "$PLAN_FILE"
    printf '%s: deployed %s\n' "$PROG" "$fn" >&2
  done <<<"$staged"
}

main "$@"
