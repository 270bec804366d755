"""Schemathesis on the whole API, from its OpenAPI documents: the small deterministic slice of
`make fuzz` (scripts/fuzz.py) that runs in `make test`.

The gateway (every function's real entry point) serves on a loopback port in this process,
two registered users are the fuzzer's peers, and every check runs: server errors, status,
content type, headers and response schemas against the documents, negative data rejection,
positive data acceptance, missing auth, unsupported methods, object-level authorization,
use after free and resource availability (the last ones through the documents' links)."""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scripts import fuzz

pytestmark = pytest.mark.api

SEED = 42
MAX_EXAMPLES = 10  # per operation in the fuzzing phase; `make fuzz` runs 100 and every phase


def operation_labels(base: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/v1/openapi.json", timeout=30) as response:
        document = json.loads(response.read())
    return {
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    }


def test_schemathesis_finds_nothing(
    gateway: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="common.http")  # thousands of request lines
    with fuzz.serve(gateway, client_address=fuzz.FUZZER_ADDRESS) as base:
        report = fuzz.fuzz_gateway(
            base,
            workdir=tmp_path,
            max_examples=MAX_EXAMPLES,
            seed=SEED,
            phases=("fuzzing", "stateful"),
            max_steps=40,
        )
        labels = operation_labels(base)
    print(report.summary())  # the counts, for the closing note (pytest -s)
    assert report.failures == [], "\n\n".join(report.failures)
    assert report.errors == []
    assert report.stop_reason == "completed"
    assert report.operations == labels  # every operation was called
    assert report.cases["fuzzing"] >= len(labels)
    assert report.cases["stateful"] > 0
    assert len(report.links_covered) >= 10  # the documents' links chained operations
    # The identities worked: creating needs a valid token, and chained operations answered.
    creates = {f"POST /v1/{c}" for c in ("todos", "memos", "contacts", "tags")}
    assert creates | {"GET /v1/users/me", "PUT /v1/notifications/devices"} <= report.succeeded
    assert len(report.succeeded) >= 40, sorted(report.operations - report.succeeded)
