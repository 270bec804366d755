"""What a function's cold start imports: not the libraries its requests do without.

Each function's main module is imported in a fresh interpreter (the test run's settings, as
its server would read them) and the modules it loaded are listed. The ORM and
pydantic-settings cost a cold start hundreds of milliseconds for nothing the functions use
(docs/benchmarks.md, "Cold start"); the tables are Core and the data code runs on a Core
connection, so neither must come back by an import somewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = [f["name"] for f in json.loads((ROOT / "functions.json").read_text())["functions"]]
NOT_ON_THE_COLD_PATH = ("sqlalchemy.orm", "pydantic_settings")

PROBE = """
import json, sys
sys.path.insert(0, sys.argv[1])
import main
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_import(function: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / "functions" / function)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_a_function_imports_neither_the_orm_nor_pydantic_settings(function: str) -> None:
    loaded = modules_after_import(function)
    assert "sqlalchemy" in loaded  # the probe saw the function's real imports
    assert "common.db.models" in loaded
    unwanted = {
        name
        for name in loaded
        for banned in NOT_ON_THE_COLD_PATH
        if name == banned or name.startswith(banned + ".")
    }
    assert unwanted == set()
