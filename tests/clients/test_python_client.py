"""The Python client: openapi-python-client 0.29 generates one from the merged document, with
its default settings, into a temporary folder; the scenario (clients/python/scenario.py,
the TypeScript scenario's twin) type-checks against it under mypy strict and runs against a
real server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.clients.conftest import run
from tests.servers import ROOT

pytestmark = pytest.mark.clients

BIN = Path(sys.executable).parent
SCENARIO = ROOT / "clients" / "python" / "scenario.py"


@pytest.fixture(scope="module")
def generated(documents: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated client's folder (the one holding the `sealy_api_client` package)."""
    out = tmp_path_factory.mktemp("python-client") / "sealy-api-client"
    made = run(
        [
            BIN / "openapi-python-client",
            "generate",
            "--path",
            documents["merged"],
            "--output-path",
            out,
        ]
    )
    assert made.returncode == 0, made.stdout + made.stderr
    # Every schema and operation made it: the generator warns about any it had to drop.
    assert "Warning" not in made.stdout + made.stderr, made.stdout + made.stderr
    assert (out / "sealy_api_client" / "models" / "timezone.py").exists()
    return out


def test_the_generator_keeps_every_operation(generated: Path, documents: dict[str, Path]) -> None:
    modules = {p.stem for p in (generated / "sealy_api_client" / "api").rglob("*.py")}
    document = json.loads(documents["merged"].read_text())
    operations = [op for item in document["paths"].values() for op in item.values()]
    ids = {op["operationId"] for op in operations}
    assert len(ids) == len(operations) > 60  # one module per operation, named by its id
    assert ids <= modules


def test_the_scenario_type_checks_against_the_generated_client(generated: Path) -> None:
    checked = run(
        [BIN / "mypy", "--strict", "--no-incremental", "--cache-dir", "/dev/null", SCENARIO],
        env={"MYPYPATH": str(generated)},
        cwd=ROOT,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_scenario_runs_against_a_real_server(generated: Path, server: str) -> None:
    ran = run([sys.executable, SCENARIO, server], env={"PYTHONPATH": str(generated)})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() == "python scenario: ok (3 todos over 2 pages)"
