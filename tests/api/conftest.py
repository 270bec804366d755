"""API tests: through HTTP semantics via each function's real functions-framework entry point."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from werkzeug.test import Client

from tests.api.helpers import QueryLog

ECHO_SOURCE = Path(__file__).parent / "echo" / "main.py"


@pytest.fixture(scope="session")
def echo_app() -> Any:
    return functions_framework.create_app(target="echo", source=str(ECHO_SOURCE))


@pytest.fixture
def echo(echo_app: Any) -> Client:
    return Client(echo_app)


@pytest.fixture
def queries(caplog: pytest.LogCaptureFixture) -> Callable[[], int]:
    """The statement count of the last request, read from its log line (`db_queries`)."""
    return QueryLog(caplog).last
