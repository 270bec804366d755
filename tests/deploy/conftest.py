"""Shared pieces of the deployment tests: the repository, functions.json, the scripts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

import deploy_plan  # noqa: E402
import stage_function  # noqa: E402

# A complete deploy configuration, as `terraform output -raw deploy_env` writes it.
DEPLOY_ENV = {
    "SEALY_PROJECT": "sealy-test-123",
    "SEALY_REGION": "europe-west1",
    "SEALY_API_HOST": "api.example.com",
    "SEALY_SECRET_VERSIONS": "jwt-signing-key=7,jwt-public-keys=5,cursor-secret=3,dispatch-token=2,"
    "code-secret=4,smtp-password=6",
    "SEALY_JWT_SIGNING_KID": "2026-11",
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
