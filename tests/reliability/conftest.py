"""Fixtures of the reliability tests."""

from __future__ import annotations

from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register


@pytest.fixture(scope="session")
def gateway() -> Any:
    """The gateway whose document parametrized these tests (tests/reliability/operations.py)."""
    from tests.reliability.operations import GATEWAY

    return GATEWAY


@pytest.fixture(scope="module")
def user(gateway: Any) -> Account:
    return register(Client(gateway))
