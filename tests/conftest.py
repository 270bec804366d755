"""The test database: `DATABASE_URL`'s server if set, else a private embedded PostgreSQL.

Set up in `pytest_configure`, before any test module is imported, so that every function
app reads the test database from its settings exactly as in production:
- with `DATABASE_URL`, a fresh database `sealy_test_<random>` is created on that server,
  migrated, and dropped at the end;
- without it, an embedded server runs in a temporary folder deleted at the end.
A mail server on loopback (tests/smtp_stub.py) runs for the whole session too, and the SMTP
settings point at it, so every mail the API sends goes through the real SMTP code.
API tests treat the database as a black box and isolate themselves by creating their own
users; integration tests roll back (see tests/integration/conftest.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from devtools import database as db

_state: dict[str, Any] = {}


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    stack = ExitStack()
    url = stack.enter_context(db.fresh_database("sealy_test"))
    _state.update(stack=stack, url=url, admin=db.with_database(url, "postgres"))
    os.environ["DATABASE_URL"] = url
    os.environ["ENV"] = "test"
    os.environ.setdefault("RELEASE", "test")
    from tests.identity_providers import start_stand_ins, stop_stand_ins
    from tests.keys import install_test_keys
    from tests.smtp_stub import SmtpStub

    install_test_keys()
    start_stand_ins()  # Google's and Apple's key endpoints, on loopback
    stack.callback(stop_stand_ins)
    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="sealy-mail-"))
    smtp = SmtpStub(Path(folder))
    stack.callback(smtp.close)
    os.environ.update(smtp.env())
    _state["smtp"] = smtp


def pytest_unconfigure(config: pytest.Config) -> None:
    if "stack" in _state:
        _state.pop("stack").close()  # drops the database (and stops an embedded server)


@pytest.fixture(scope="session")
def database_url() -> str:
    """SQLAlchemy URL of this run's freshly migrated test database."""
    return str(_state["url"])


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Side connections to the test database, outside the API (setup, checks, lock holders)."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def admin_url() -> str:
    """URL of the test server's `postgres` database, for tests that create their own."""
    return str(_state["admin"])


@pytest.fixture(scope="session")
def smtp() -> Any:
    """The session's mail server (tests/smtp_stub.py), which the SMTP settings point at."""
    return _state["smtp"]


@pytest.fixture(scope="session")
def gateway() -> Any:
    from devtools.gateway import create_gateway

    return create_gateway()


@pytest.fixture
def client(gateway: Any) -> Any:
    """A WSGI client on the gateway: requests go through each function's real entry point."""
    from werkzeug.test import Client

    return Client(gateway)
