"""`redocly lint` (Redocly CLI, its recommended ruleset) on every document the API serves: the
merged one and each function's own. No errors and no warnings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.generate_clients import node_tool
from tests.clients.conftest import run

pytestmark = pytest.mark.clients

QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"}


def reports(output: str) -> list[dict[str, Any]]:
    """`--format=json` prints one JSON report per document, one after the other."""
    decoder = json.JSONDecoder()
    found, position = [], 0
    while position < len(output.rstrip()):
        report, position = decoder.raw_decode(output, position)
        found.append(report)
        while position < len(output) and output[position].isspace():
            position += 1
    return found


def test_every_document_passes_redocly_recommended(documents: dict[str, Path]) -> None:
    files = list(documents.values())
    linted = run(
        [node_tool("redocly"), "lint", "--extends=recommended", "--format=json", *files],
        env=QUIET,
    )
    found = reports(linted.stdout)
    assert len(found) == len(files), linted.stdout + linted.stderr
    problems = [
        f"{problem['severity']} {problem['ruleId']}: {problem['message']} "
        f"({problem['location'][0]['pointer']})"
        for report in found
        for problem in report["problems"]
    ]
    assert problems == []
    assert linted.returncode == 0, linted.stderr
