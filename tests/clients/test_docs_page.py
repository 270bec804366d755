"""The gateway's `/docs` page: self-contained (no CDN, nothing fetched but the document), every
operation and every schema rendered as tables of fields and types, and a clear message when
the document cannot be read. Its script runs in Node.js (render_docs.mjs stands in for the
few DOM calls it makes) on the document the gateway serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from tests.clients.conftest import run

pytestmark = pytest.mark.clients

RENDER = Path(__file__).with_name("render_docs.mjs")


@pytest.fixture(scope="module")
def page(gateway: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    response = Client(gateway).get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    path = tmp_path_factory.mktemp("docs") / "docs.html"
    path.write_text(response.get_data(as_text=True))
    return path


def rendered(page: Path, *args: str | Path) -> dict[str, Any]:
    shown = run(["node", RENDER, page, *args])
    assert shown.returncode == 0, shown.stdout + shown.stderr
    result: dict[str, Any] = json.loads(shown.stdout)
    return result


def test_the_page_loads_nothing_from_elsewhere(page: Path) -> None:
    html = page.read_text()
    assert re.findall(r"https?://", html) == []
    assert "<script src" not in html
    assert "<link" not in html
    assert "@import" not in html


def test_every_operation_and_schema_reads_as_tables(page: Path, documents: dict[str, Path]) -> None:
    document = json.loads(documents["merged"].read_text())
    shown = rendered(page, documents["merged"])
    operations = [op for item in document["paths"].values() for op in item.values()]
    schemas = document["components"]["schemas"]
    ids = set(shown["ids"])
    assert {op["operationId"] for op in operations} <= ids
    assert {f"schema-{name}" for name in schemas} <= ids
    with_fields = [s for s in schemas.values() if "properties" in s]
    field_tables = [t for t in shown["tables"] if t == ["field", "type", "rules", "description"]]
    assert len(field_tables) == len(with_fields)
    assert shown["tables"].count(["status", "meaning", "body", "headers"]) == len(operations)
    text = shown["text"]
    assert "pinned" in text
    assert "one of 599 values" in text  # the time zones, not 599 lines of JSON
    assert '"properties"' not in text  # fields and types, not raw JSON
    assert "could not be loaded" not in text


@pytest.mark.parametrize("status", [404, 503])
def test_a_document_that_cannot_be_read_is_said_so(page: Path, status: int) -> None:
    shown = rendered(page, "--status", str(status))
    assert shown["text"].startswith("The API document could not be loaded.")
    assert f"the server answered {status}" in shown["text"]
    assert "Loading" not in shown["text"]
