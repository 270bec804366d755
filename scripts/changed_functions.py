"""Which functions a push changes: the deploy workflow's matrix.

    python3 scripts/changed_functions.py BEFORE AFTER   # prints functions=["auth", ...]

A function is redeployed when its folder changes, or anything every function is built
from: common/, the locks, pyproject.toml, functions.json, or the deploy tooling itself.
An unknown BEFORE (first push, force push, manual run) means every function.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stage_function import REPO, function_names

SHARED = (
    "common/",
    "requirements/runtime.txt",
    "requirements/runtime-notifications.txt",
    "pyproject.toml",
    "functions.json",
    "deploy.sh",
    "scripts/stage_function.py",
    "scripts/deploy_plan.py",
)


def changed_paths(before: str, after: str) -> list[str] | None:
    """Paths changed between two commits, or None if `before` is not usable."""
    if not before or set(before) == {"0"}:
        return None
    result = subprocess.run(
        ["git", "-C", str(REPO), "diff", "--name-only", f"{before}...{after}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    return [line for line in result.stdout.splitlines() if line]


def affected(names: list[str], paths: list[str] | None) -> list[str]:
    if paths is None or any(p.startswith(SHARED) for p in paths):
        return list(names)
    return [n for n in names if any(p.startswith(f"functions/{n}/") for p in paths)]


def main(argv: list[str]) -> int:
    before = argv[0] if argv else ""
    after = argv[1] if len(argv) > 1 else "HEAD"
    print("functions=" + json.dumps(affected(function_names(), changed_paths(before, after))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
