"""Forged cursors are 422, never 500: every list route, every sort, a table of hostile payloads.

A forger who knows the signing secret (the dev secret is public) can sign anything; what the
cursor carries must still be checked as what we put in it. Each case below starts from a
real cursor of that list (so its scope, the list it is bound to, is right), replaces one part
of the signed JSON with a hostile value, signs it with the test secret and sends it.
The list routes are every GET operation of the merged OpenAPI document with a `cursor`
parameter; a new one needs its creation field in CREATE (the test says so).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from werkzeug.test import Client

from common.config import get_settings
from tests.factories import Account
from tests.reliability.operations import OPERATIONS, Operation

pytestmark = pytest.mark.api

# The sorted lists (the change feeds' cursors and sync tokens have their own forgery tests:
# tests/api/test_changes.py).
LISTS = [
    op
    for op in OPERATIONS
    if op.method == "GET" and {"cursor", "sort"} <= {p["name"] for p in op.params("query")}
]
# The one field a creation body needs, per collection.
CREATE = {"/v1/todos": "title", "/v1/memos": "content", "/v1/contacts": "name", "/v1/tags": "name"}


def sorts(op: Operation) -> list[str]:
    (param,) = [p for p in op.params("query") if p["name"] == "sort"]
    return list(param["schema"]["enum"])


CASES = [(op, sort) for op in LISTS for sort in sorts(op)]

ID = "7c6f2f8e-5a3c-4f4b-9d2e-2b1d6c0f9a10"
# How a sort's values travel in a cursor (api-v1: names are text, priority an integer 0-4,
# every other sort a timestamp).
KINDS = {"name": "str", "priority": "int"}
ALL = frozenset({"datetime", "int", "str"})
NOT_TEXT = frozenset({"datetime", "int"})  # well-formed text is a fine position in a name
# Values that may stand where the sort value goes, and the kinds of sort that must refuse
# them: none of these is a value we put in a cursor of such a sort.
HOSTILE_VALUES: dict[str, tuple[Any, frozenset[str]]] = {
    "int4+1": (2**31, ALL),  # priority is an int4 column
    "int4-1": (-(2**31) - 1, ALL),
    "int64+1": (2**63, ALL),
    "int64-1": (-(2**63) - 1, ALL),
    "1e30": (10**30, ALL),
    "float": (1.5, ALL),
    "integral float": (2.0, ALL),
    "infinity": (float("inf"), ALL),  # json.dumps writes Infinity, json.loads reads it
    "nan": (float("nan"), ALL),
    "true": (True, ALL),
    "list": ([1], ALL),
    "object": ({"a": 1}, ALL),
    "NUL": ("a\x00b", ALL),
    "lone high surrogate": ("\ud800", ALL),
    "lone low surrogate": ("x\udfffy", ALL),
    "year 10000": ("10000-01-01T00:00:00+00:00", NOT_TEXT),
    "past 9999 in UTC": ("9999-12-31T23:59:59-01:00", NOT_TEXT),
    "before 1 in UTC": ("0001-01-01T00:00:00+01:00", NOT_TEXT),
    "naive": ("2024-01-01T00:00:00", NOT_TEXT),
    "month 13": ("2024-13-01T00:00:00+00:00", NOT_TEXT),
    "offset 24h": ("2024-01-01T00:00:00+24:00", NOT_TEXT),
    "date with NUL": ("2024-01-01T00:00:00+00:00\x00", NOT_TEXT),  # fromisoformat takes it
    "date not in UTC": ("2024-01-01T01:00:00+01:00", NOT_TEXT),  # ours are in UTC
    "date only": ("2024-01-01", NOT_TEXT),
    "empty": ("", NOT_TEXT),
    "digits": ("7", NOT_TEXT),
}


def kind(sort: str) -> str:
    return KINDS.get(sort.lstrip("-"), "datetime")


VALUE_CASES = [
    (op, sort, name)
    for op, sort in CASES
    for name, (_, refusers) in HOSTILE_VALUES.items()
    if kind(sort) in refusers
]
# The other parts: the list's id position and the JSON's shape as a whole.
HOSTILE_IDS: dict[str, Any] = {
    "int": 7,
    "null": None,
    "list": [ID],
    "not a uuid": "not-a-uuid",
    "urn form": f"urn:uuid:{ID}",
    "no dashes": ID.replace("-", ""),
    "NUL": ID + "\x00",
    "surrogate": ID[:-1] + "\ud800",
}
HOSTILE_SHAPES: dict[str, Any] = {
    "two items": ["<scope>", "x"],
    "four items": ["<scope>", "x", ID, ID],
    "empty list": [],
    "null": None,
    "number": 5,
    "string of three": "abc",
    "object of three": {"<scope>": 1, "x": 2, ID: 3},
    "scope a list": [["<scope>"], "x", ID],
    "nested": [[[[[[[[[[[]]]]]]]]]]],
}
RAW_PAYLOADS: dict[str, bytes] = {
    "not json": b"{not json",
    "not utf-8": b"\xff\xfe\xfd",
    "json with trailing data": b'["a", 1, "b"] x',
    "deep nesting": b"[" * 700 + b"]" * 700,
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(payload: bytes) -> str:
    """A cursor whose signature is valid: made as the server makes one, with its secret."""
    text = b64(payload)
    key = get_settings().cursor_secret.get_secret_value().encode()
    return f"{text}.{b64(hmac.new(key, text.encode(), hashlib.sha256).digest()[:18])}"


def forged(parts: Any) -> str:
    return sign(json.dumps(parts).encode())


@pytest.fixture(scope="module")
def lists(gateway: Any, user: Account) -> dict[tuple[str, str], list[Any]]:
    """(path, sort) -> the decoded JSON of a real next-page cursor of that list."""
    client = Client(gateway)
    for op in LISTS:
        assert op.path in CREATE, f"{op.path} lists with a cursor: add its field to CREATE"
        for n in range(2):
            made = client.post(op.path, json={CREATE[op.path]: f"item {n}"}, headers=user.headers)
            assert made.status_code == 201, made.get_data(as_text=True)
    real: dict[tuple[str, str], list[Any]] = {}
    for op, sort in CASES:
        page = client.get(f"{op.path}?limit=1&sort={sort}", headers=user.headers)
        assert page.status_code == 200, page.get_data(as_text=True)
        payload = page.get_json()["next_cursor"].partition(".")[0]
        real[op.path, sort] = json.loads(base64.urlsafe_b64decode(payload + "==="))
    return real


def assert_invalid_cursor(client: Client, op: Operation, sort: str, cursor: str, user: Account):
    response = client.get(
        op.path, query_string={"sort": sort, "cursor": cursor}, headers=user.headers
    )
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    assert response.mimetype == "application/problem+json"
    assert [e["field"] for e in response.get_json()["errors"]] == ["cursor"]


def test_every_list_route_is_covered() -> None:
    assert sorted(op.path for op in LISTS) == sorted(CREATE)


@pytest.mark.parametrize(("op", "sort"), CASES, ids=[f"{op.path}?sort={s}" for op, s in CASES])
def test_the_real_cursor_is_accepted_and_a_forged_copy_of_it_too(
    gateway: Any, user: Account, lists: dict[tuple[str, str], list[Any]], op: Operation, sort: str
) -> None:
    """The oracle of the cases below: re-signing the real JSON as is makes a valid cursor."""
    response = Client(gateway).get(
        op.path,
        query_string={"sort": sort, "limit": 1, "cursor": forged(lists[op.path, sort])},
        headers=user.headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(response.get_json()["items"]) == 1


@pytest.mark.parametrize(
    ("op", "sort", "name"), VALUE_CASES, ids=[f"{o.path}?sort={s}-{n}" for o, s, n in VALUE_CASES]
)
def test_a_hostile_sort_value_is_422(
    gateway: Any,
    user: Account,
    lists: dict[tuple[str, str], list[Any]],
    op: Operation,
    sort: str,
    name: str,
) -> None:
    scope, _, last_id = lists[op.path, sort]
    cursor = forged([scope, HOSTILE_VALUES[name][0], last_id])
    assert_invalid_cursor(Client(gateway), op, sort, cursor, user)


@pytest.mark.parametrize(("op", "sort"), CASES, ids=[f"{op.path}?sort={s}" for op, s in CASES])
def test_null_is_422_where_the_sort_has_no_nulls(
    gateway: Any, user: Account, lists: dict[tuple[str, str], list[Any]], op: Operation, sort: str
) -> None:
    scope, _, last_id = lists[op.path, sort]
    response = Client(gateway).get(
        op.path,
        query_string={"sort": sort, "cursor": forged([scope, None, last_id])},
        headers=user.headers,
    )
    # `deadline` sorts hold NULLs (todos without one): there null is a position like another.
    nullable = sort.lstrip("-") == "deadline"
    assert response.status_code == (200 if nullable else 422), response.get_data(as_text=True)


@pytest.mark.parametrize("op", LISTS, ids=[op.path for op in LISTS])
@pytest.mark.parametrize("name", HOSTILE_IDS)
def test_a_hostile_id_is_422(
    gateway: Any, user: Account, lists: dict[tuple[str, str], list[Any]], op: Operation, name: str
) -> None:
    sort = sorts(op)[0]
    scope, value, _ = lists[op.path, sort]
    assert_invalid_cursor(
        Client(gateway), op, sort, forged([scope, value, HOSTILE_IDS[name]]), user
    )


@pytest.mark.parametrize("op", LISTS, ids=[op.path for op in LISTS])
@pytest.mark.parametrize("name", [*HOSTILE_SHAPES, *RAW_PAYLOADS])
def test_a_hostile_shape_is_422(
    gateway: Any, user: Account, lists: dict[tuple[str, str], list[Any]], op: Operation, name: str
) -> None:
    sort = sorts(op)[0]
    scope, value, _ = lists[op.path, sort]
    if name in RAW_PAYLOADS:
        cursor = sign(RAW_PAYLOADS[name])
    else:
        text = json.dumps(HOSTILE_SHAPES[name]).replace('"<scope>"', json.dumps(scope))
        cursor = sign(text.replace('"x"', json.dumps(value)).encode())
    assert_invalid_cursor(Client(gateway), op, sort, cursor, user)


@pytest.mark.parametrize("op", LISTS, ids=[op.path for op in LISTS])
@pytest.mark.parametrize(
    "encoded",  # as it appears in the URL
    [
        "",
        ".",
        "%C3%A9.%C3%A9",
        "%00.%00",
        "a" * 1024,
        "%ED%A0%80.%ED%A0%80",
        "%FF.%FE",
        "%F0%9F%92%A9.",
    ],
    ids=["empty", "dot", "non-ascii", "NUL", "long", "surrogate", "not utf-8", "emoji"],
)
def test_an_unsigned_cursor_is_422(
    gateway: Any, user: Account, op: Operation, encoded: str
) -> None:
    sort = sorts(op)[0]
    response = Client(gateway).get(f"{op.path}?sort={sort}&cursor={encoded}", headers=user.headers)
    assert response.status_code == 422, (response.status_code, response.get_data(as_text=True))
    assert [e["field"] for e in response.get_json()["errors"]] == ["cursor"]
