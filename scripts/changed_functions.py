"""Which functions differ from what is deployed: the deploy workflow's matrix.

    python3 scripts/changed_functions.py          # prints functions=["auth", ...]
    python3 scripts/changed_functions.py --all    # every function, asking nothing

Every function is staged (scripts/stage_function.py) and its deploy command built
(scripts/deploy_plan.py) from the same configuration deploy.sh uses (SEALY_* in the
environment); the command's digest is what `./deploy.sh` labels the function with
(`sealy-deploy=<digest>`). One `gcloud functions list` reads what is deployed. A function
is deployed again unless it exists, is ACTIVE, and carries exactly that digest: so a
change of code, of functions.json, of a secret version or of anything else deploy.sh sets
redeploys it; a function whose last deploy failed, or whose workflow run was cancelled or
superseded, is deployed by the next run; and nothing else is.

The reasons go to standard error, one line per function. A failing gcloud fails the
script (exit 2): deploying nothing because the state could not be read would hide it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: scripts.*

from scripts import deploy_plan, stage_function
from scripts.stage_function import StageError


def wanted_digests(env: Mapping[str, str], build_dir: Path) -> dict[str, str]:
    """function -> the digest its deploy command would carry now."""
    cfg = stage_function.load_functions()
    names = [fn["name"] for fn in cfg["functions"]]
    conf = deploy_plan.read_config(names, env, cfg)
    out = {}
    for fn in cfg["functions"]:
        source_hash = stage_function.stage(fn["name"], build_dir)
        out[fn["name"]] = deploy_plan.deploy_digest(cfg, fn, conf, source_hash)
    return out


def deployed_functions(project: str, region: str) -> dict[str, dict[str, Any]]:
    """function name -> its Cloud Functions (v2) resource, as gcloud lists it."""
    result = subprocess.run(
        [
            "gcloud",
            "functions",
            "list",
            "--v2",
            f"--project={project}",
            f"--regions={region}",
            "--format=json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StageError(f"gcloud functions list failed:\n{result.stderr.strip()}")
    try:
        listed = json.loads(result.stdout or "[]")
    except json.JSONDecodeError as exc:
        raise StageError(f"gcloud functions list printed no JSON: {exc}") from exc
    return {item["name"].rsplit("/", 1)[-1]: item for item in listed}


def pending(
    wanted: Mapping[str, str], deployed: Mapping[str, dict[str, Any]]
) -> list[tuple[str, str]]:
    """(function, reason) for every function that must be deployed, in functions.json order."""
    out = []
    for name, digest in wanted.items():
        function = deployed.get(name)
        if function is None:
            out.append((name, "not deployed"))
            continue
        state = function.get("state", "UNKNOWN")
        label = (function.get("labels") or {}).get(deploy_plan.DIGEST_LABEL)
        if state != "ACTIVE":
            out.append((name, f"state {state}"))
        elif label != digest:
            out.append((name, f"deployed {label or 'without a digest'}, want {digest}"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every function, asking nothing")
    args = parser.parse_args(argv)
    try:
        if args.all:
            names = stage_function.function_names()
            print("changed_functions: all functions (--all)", file=sys.stderr)
            print("functions=" + json.dumps(names))
            return 0
        build = os.environ.get("SEALY_BUILD_DIR")
        with tempfile.TemporaryDirectory() as scratch:
            wanted = wanted_digests(os.environ, Path(build or scratch))
        deployed = deployed_functions(os.environ["SEALY_PROJECT"], os.environ["SEALY_REGION"])
    except StageError as exc:
        print(f"changed_functions: {exc}", file=sys.stderr)
        return 2
    todo = pending(wanted, deployed)
    for name, reason in todo:
        print(f"changed_functions: {name}: {reason}", file=sys.stderr)
    if not todo:
        print("changed_functions: every function is deployed as configured", file=sys.stderr)
    print("functions=" + json.dumps([name for name, _ in todo]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
