"""Stage one Cloud Function as a self-contained source folder, and zip it.

    python3 scripts/stage_function.py [--build-dir build] NAME... | all

For each function in functions.json this writes

    build/<fn>/main.py            the function's entry point (functions/<fn>/*.py)
    build/<fn>/common/            a copy of the shared package (Cloud Functions does not
                                  follow directory symlinks, so it must be a real copy)
    build/<fn>/requirements.txt   pinned from the project's lock, only what <fn> needs
    build/<fn>.zip                the same files, zipped reproducibly
    build/<fn>.sha256             the source hash (see `source_hash`)

and prints `<fn> <source hash>` per function. deploy.sh uploads the zip as
gs://<bucket>/<fn>/<hash>.zip and deploys it; deploy.sh is the only owner of the code
(Terraform creates each function with a placeholder and ignores its source after that:
infra/functions.tf).

Requirements: the lock (requirements/runtime.txt, or runtime-notifications.txt for a
function whose `extras` include "notifications") is compiled for the whole project.
A function gets the closure of the project's runtime dependencies over the lock's
`# via` graph, minus tools that only run outside the functions (alembic), plus its
extras. So firebase-admin and its dependencies reach only `notifications`.

Only the standard library is used: deploy.sh runs this with the machine's python3.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# Project dependencies that no function imports at run time.
NOT_AT_RUNTIME = frozenset({"alembic"})
# extra name -> the lock that includes it (every other function uses the base lock).
EXTRA_LOCKS = {"notifications": "requirements/runtime-notifications.txt"}
BASE_LOCK = "requirements/runtime.txt"
# Cloud Functions runs python312 (functions.json "runtime"); the locks are compiled for
# Python 3.12 (`make lock`).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".DS_Store")


class StageError(Exception):
    """A problem the person running deploy.sh can fix; printed without a traceback."""


@dataclass(frozen=True)
class LockEntry:
    name: str  # normalized
    pin: str  # the requirement line(s) as written in the lock, e.g. "flask==3.1.2"
    parents: frozenset[str]  # normalized names from "# via", plus "<project>" for the root


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def load_functions(root: Path = REPO) -> dict[str, Any]:
    """functions.json, with the names checked for what deploy.sh and Terraform need."""
    path = root / "functions.json"
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise StageError(f"{path} not found") from exc
    seen: set[str] = set()
    for fn in data["functions"]:
        name = fn["name"]
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,20}", name):
            raise StageError(f"function name {name!r}: use [a-z][a-z0-9-], at most 21 chars")
        if name in seen:
            raise StageError(f"function {name!r} is listed twice in functions.json")
        seen.add(name)
    return data


def function_names(root: Path = REPO) -> list[str]:
    return [fn["name"] for fn in load_functions(root)["functions"]]


def resolve_targets(target: str, root: Path = REPO) -> list[str]:
    """`all` or one known name -> the list of names to handle; unknown names fail clearly."""
    names = function_names(root)
    if target == "all":
        return names
    if target not in names:
        raise StageError(
            f"unknown function {target!r}: functions.json lists {', '.join(names)} (or use 'all')"
        )
    return [target]


def parse_lock(text: str) -> dict[str, LockEntry]:
    """Parse a `uv pip compile` / pip-compile lock with its `# via` annotations."""
    entries: dict[str, LockEntry] = {}
    current: str | None = None
    pin_lines: list[str] = []
    parents: set[str] = set()
    in_via = False

    def flush() -> None:
        if current is not None:
            entries[current] = LockEntry(current, "\n".join(pin_lines), frozenset(parents))

    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        if not line.startswith((" ", "#")):  # a new requirement
            flush()
            match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==", line)
            if match is None:
                raise StageError(f"lock line is not a pin: {line!r}")
            current, pin_lines, parents, in_via = normalize(match[1]), [line], set(), False
            continue
        stripped = line.strip()
        if current is None:
            continue  # the header comment
        if not stripped.startswith("#"):  # a continuation (e.g. --hash=...)
            pin_lines.append(line)
            continue
        comment = stripped.lstrip("#").strip()
        if comment.startswith("via"):
            rest = comment[3:].strip()
            in_via = not rest
            if rest:
                parents.add(_parent(rest))
        elif in_via and comment:
            parents.add(_parent(comment))
    flush()
    return entries


def _parent(text: str) -> str:
    # "sealy (pyproject.toml)" or "-r requirements.in" mark a root requirement.
    if "(" in text or text.startswith("-"):
        return "<project>"
    return normalize(text.split("[")[0].strip())


def _requirement_name(spec: str) -> str:
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
    if match is None:
        raise StageError(f"cannot read requirement {spec!r} in pyproject.toml")
    return normalize(match[1])


def runtime_roots(extras: list[str], root: Path = REPO) -> set[str]:
    """The project's top-level packages that a function with these extras needs."""
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    roots = {_requirement_name(s) for s in project["dependencies"]} - NOT_AT_RUNTIME
    optional = project.get("optional-dependencies", {})
    for extra in extras:
        if extra not in optional:
            raise StageError(f"extra {extra!r} is not defined in pyproject.toml")
        roots |= {_requirement_name(s) for s in optional[extra]}
    return roots


def closure(lock: dict[str, LockEntry], roots: set[str]) -> list[LockEntry]:
    """Roots plus everything the lock says is pulled in (transitively) by a needed package."""
    missing = sorted(roots - lock.keys())
    if missing:
        raise StageError(f"the lock has no pin for {', '.join(missing)}: regenerate the locks")
    needed = set(roots)
    changed = True
    while changed:
        changed = False
        for name, entry in lock.items():
            if name not in needed and entry.parents & needed:
                needed.add(name)
                changed = True
    return [lock[name] for name in sorted(needed)]


def lock_path_for(extras: list[str], root: Path = REPO) -> Path:
    locks = {EXTRA_LOCKS[e] for e in extras if e in EXTRA_LOCKS}
    if len(locks) > 1:
        raise StageError(f"extras {extras} need more than one lock; add a combined lock")
    return root / (locks.pop() if locks else BASE_LOCK)


def requirements_for(fn: dict[str, Any], root: Path = REPO) -> str:
    extras = list(fn.get("extras", []))
    lock_file = lock_path_for(extras, root)
    entries = closure(parse_lock(lock_file.read_text()), runtime_roots(extras, root))
    header = (
        f"# {fn['name']}: pinned from {lock_file.relative_to(root).as_posix()} by "
        "scripts/stage_function.py; do not edit.\n"
    )
    return header + "".join(f"{e.pin}\n" for e in entries)


def source_hash(folder: Path) -> str:
    """sha256 over "<relative path>:<sha256 of file>" lines, paths sorted.

    It names the uploaded object gs://<bucket>/<fn>/<hash>.zip and the function's RELEASE
    (its first 12 digits), and so enters the deploy digest (scripts/deploy_plan.py).
    """
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    lines = [f"{rel}:{hashlib.sha256((folder / rel).read_bytes()).hexdigest()}" for rel in files]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def write_zip(folder: Path, target: Path) -> None:
    """Same bytes for the same files: fixed timestamps and modes, sorted entries."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())


def stage(name: str, build_dir: Path, root: Path = REPO) -> str:
    """Stage `name` under build_dir; return its source hash."""
    functions = {fn["name"]: fn for fn in load_functions(root)["functions"]}
    if name not in functions:
        raise StageError(f"unknown function {name!r}")
    fn = functions[name]
    source = root / "functions" / name
    if not (source / "main.py").is_file():
        raise StageError(f"{source / 'main.py'} does not exist")
    requirements = requirements_for(fn, root)

    target = build_dir / name
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for module in sorted(source.glob("*.py")):
        shutil.copy2(module, target / module.name)
    shutil.copytree(root / "common", target / "common", ignore=shutil.ignore_patterns(*_IGNORED))
    (target / "requirements.txt").write_text(requirements)

    digest = source_hash(target)
    write_zip(target, build_dir / f"{name}.zip")
    (build_dir / f"{name}.sha256").write_text(digest + "\n")
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", metavar="NAME", help="function names, or 'all'")
    parser.add_argument("--build-dir", type=Path, default=REPO / "build")
    args = parser.parse_args(argv)
    try:
        names: list[str] = []
        for target in args.targets:
            names += [n for n in resolve_targets(target) if n not in names]
        for name in names:
            print(name, stage(name, args.build_dir))
    except StageError as exc:
        print(f"stage_function: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
