"""Round trips to the database per request, through the functions' real entry points.

A loopback proxy between the functions and PostgreSQL counts them
(devtools/latency_proxy.py): the process's engine is swapped for one that `make_engine`
makes from the same settings, on the same database, through the proxy. What a request
costs (common/db/engine.py): checking out a connection, nothing; a GET, one trip per
statement (each its own read-only transaction); a write, one per statement (the first
carries the BEGIN) and one for the COMMIT; a request that runs no statement, nothing.
Each request is sent once before it is counted, so that the connection exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from common.config import get_settings
from common.db import engine as engine_module
from devtools.latency_proxy import LatencyProxy
from tests.factories import Account, register

pytestmark = pytest.mark.api


@pytest.fixture
def proxy(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LatencyProxy]:
    with LatencyProxy(database_url) as proxy:
        settings = get_settings().model_copy(update={"database_url": proxy.url})
        engine = engine_module.make_engine(settings)
        monkeypatch.setitem(engine_module._made, "engine", engine)
        try:
            yield proxy
        finally:
            engine.dispose()


@pytest.fixture
def owner(client: Client) -> Account:
    return register(client)


def trips(proxy: LatencyProxy, send: Callable[[], Any], status: int) -> int:
    """The round trips of `send()`'s request, sent a second time."""
    assert send().status_code == status
    before = proxy.turns
    assert send().status_code == status
    return proxy.turns - before


def new_todo(client: Client, owner: Account) -> str:
    response = client.post("/v1/todos", json={"title": "t"}, headers=owner.headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


def test_a_get_of_one_todo_is_one_round_trip(
    client: Client, owner: Account, proxy: LatencyProxy
) -> None:
    item = new_todo(client, owner)
    get = functools.partial(client.get, f"/v1/todos/{item}", headers=owner.headers)
    assert trips(proxy, get, 200) == 1


def test_a_get_of_no_todo_is_one_round_trip(
    client: Client, owner: Account, proxy: LatencyProxy
) -> None:
    missing = "/v1/todos/7c6f2f8e-5a3c-4f4b-9d2e-2b1d6c0f9a10"
    assert trips(proxy, functools.partial(client.get, missing, headers=owner.headers), 404) == 1


def test_a_list_is_one_round_trip(client: Client, owner: Account, proxy: LatencyProxy) -> None:
    new_todo(client, owner)
    page = functools.partial(client.get, "/v1/todos?limit=50", headers=owner.headers)
    assert trips(proxy, page, 200) == 1


def test_health_is_one_round_trip(client: Client, proxy: LatencyProxy) -> None:
    assert trips(proxy, functools.partial(client.get, "/v1/todos/health"), 200) == 1


def test_a_write_of_one_statement_is_two_round_trips(
    client: Client, owner: Account, proxy: LatencyProxy
) -> None:
    """The statement with its BEGIN, then the COMMIT."""
    create = functools.partial(client.post, "/v1/todos", json={"title": "t"}, headers=owner.headers)
    assert trips(proxy, create, 201) == 2


def test_a_write_refused_before_any_statement_costs_none(
    client: Client, owner: Account, proxy: LatencyProxy
) -> None:
    invalid = functools.partial(client.post, "/v1/todos", json={"title": ""}, headers=owner.headers)
    assert trips(proxy, invalid, 422) == 0
