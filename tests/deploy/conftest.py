"""Shared pieces of the deployment tests: the repository, functions.json, the scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from scripts import deploy_plan, stage_function

REPO = Path(__file__).resolve().parents[2]

# A complete deploy configuration, as `terraform output -raw deploy_env` writes it.
DEPLOY_ENV = {
    "SEALY_PROJECT": "sealy-test-123",
    "SEALY_REGION": "europe-west1",
    "SEALY_API_HOST": "api.example.com",
    "SEALY_SECRET_VERSIONS": "jwt-signing-key=7,jwt-public-keys=5,cursor-secret=3,dispatch-token=2,"
    "code-secret=4,smtp-password=6",
    "SEALY_JWT_SIGNING_KID": "2026-11",
    "SEALY_SMTP_HOST": "smtp.example.com",
    "SEALY_SMTP_FROM": "Sealy <no-reply@example.com>",
}


@pytest.fixture(scope="session")
def catalog() -> dict[str, Any]:
    return json.loads((REPO / "functions.json").read_text())


@pytest.fixture(scope="session")
def functions(catalog: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {fn["name"]: fn for fn in catalog["functions"]}


@pytest.fixture(scope="session")
def stage() -> ModuleType:
    return stage_function


@pytest.fixture(scope="session")
def plan() -> ModuleType:
    return deploy_plan


# A stand-in for the gcloud CLI at the process boundary: a `gcloud` executable on PATH
# that records its arguments and answers `functions list` with what a test deployed.
FAKE_GCLOUD = """#!{python}
import json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_GCLOUD_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if os.environ.get("FAKE_GCLOUD_FAIL"):
    print("ERROR: (gcloud) " + os.environ["FAKE_GCLOUD_FAIL"], file=sys.stderr)
    sys.exit(1)
if args[:2] == ["functions", "list"]:
    with open(os.environ["FAKE_GCLOUD_FUNCTIONS"]) as listing:
        print(listing.read())
"""


@dataclass
class FakeGcloud:
    bin_dir: Path
    log: Path
    functions: Path  # the JSON `gcloud functions list --format=json` prints

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "PATH": f"{self.bin_dir}:{os.environ['PATH']}",
            "HOME": os.environ.get("HOME", "/tmp"),
            "FAKE_GCLOUD_LOG": str(self.log),
            "FAKE_GCLOUD_FUNCTIONS": str(self.functions),
            **extra,
        }

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def deployed(self, listing: list[dict[str, Any]]) -> None:
        self.functions.write_text(json.dumps(listing))


@pytest.fixture
def fake_gcloud(tmp_path: Path) -> FakeGcloud:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    script = bin_dir / "gcloud"
    script.write_text(FAKE_GCLOUD.format(python=os.path.realpath(sys.executable)))
    script.chmod(0o755)
    fake = FakeGcloud(bin_dir, tmp_path / "gcloud-calls.jsonl", tmp_path / "functions.json")
    fake.deployed([])
    return fake


def run_script(
    *argv: str, env: dict[str, str], cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
