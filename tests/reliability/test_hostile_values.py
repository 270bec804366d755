"""Hostile values reach no 500: every operation of every function, from the merged OpenAPI
document (so a route the document forgets is also a route these tests forget: see
tests/api/test_openapi_contract.py, which checks that the document lists every route).

- path ids that are not UUIDs (404), hostile query values (422 for typed parameters),
- in every body field: wrong JSON types, NUL bytes, integers beyond int4/int8, malformed
  UUIDs and timestamps (422 naming the field),
- deeply nested JSON (400 or 422), huge arrays within and beyond 64 KiB (422, 413),
- hostile If-Match and Idempotency-Key headers.
Chunked bodies without Content-Length go through a real server: test_chunked_bodies.py.
"""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import pytest
from werkzeug.test import Client

from tests.factories import Account, register
from tests.reliability.operations import OPERATIONS, Operation, body_schema, resolve

pytestmark = pytest.mark.api

BIG_INTEGERS = [2**31, 2**63, 10**30, -(2**63) - 1]
HUGE_FLOAT = "1e309"  # parses to infinity
BAD_UUIDS = ["not-a-uuid", "00000000-0000-0000-0000-00000000000g", "", "1", "{}"]
BAD_TIMESTAMPS = [
    "2024-13-45T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "9999-12-31T23:59:59-23:59",  # past year 9999 once in UTC
    "0001-01-01T00:00:00+23:59",  # before year 1 once in UTC
    "2024-01-01T00:00:00",  # no offset
    "1700000000",
    "0.5",
    "",
    "now",
]
BAD_PATH_IDS = [
    "not-a-uuid",
    "1",
    "00000000-0000-0000-0000-00000000000g",
    "%00",
    "%27%20OR%201=1%20--",
    "x" * 2000,
    "%F0%9F%92%A9",
    "..%2F..%2Fetc%2Fpasswd",
    "7c6f2f8e5a3c4f4b9d2e2b1d6c0f9a10",
]
HOSTILE_QUERY_VALUES = [
    "\x00",
    "a\x00b",
    str(2**31),
    str(2**63),
    str(10**30),
    "-1",
    HUGE_FLOAT,
    "NaN",
    "not-a-uuid",
    "2024-13-45T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "0.5",
    "x" * 10_000,
    "",
    "%",
    "\U0001f4a9",
]
# One value of each JSON type; a field gets every value its schema does not allow.
JSON_VALUES: dict[str, Any] = {
    "null": None,
    "boolean": True,
    "integer": 7,
    "number": 1.5,
    "string": "7",
    "array": [],
    "object": {},
}


def json_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a (resolved) schema accepts."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return set().union(*(json_types(option) for option in schema["anyOf"]))
    if "enum" in schema or "const" in schema:
        values = schema.get("enum", [schema.get("const")])
        return {_type_of(v) for v in values}
    declared = schema.get("type")
    if declared is None:
        return set(JSON_VALUES)  # anything
    found = {declared} if isinstance(declared, str) else set(declared)
    if "number" in found:
        found.add("integer")
    return found


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {str: "string", float: "number", list: "array", dict: "object"}[type(value)]


def options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a (resolved) schema."""
    schema = resolve(schema)
    if "anyOf" in schema:
        return [resolve(o) for o in schema["anyOf"] if o != {"type": "null"}]
    return [schema]


def fields(schema: dict[str, Any], prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every property of a body schema as (dotted path, schema), one level of nesting deep."""
    found = []
    for name, prop in resolve(schema).get("properties", {}).items():
        path = f"{prefix}{name}"
        found.append((path, prop))
        if not prefix:
            for option in options(prop):
                if option.get("type") == "object":
                    found.extend(fields(option, prefix=f"{path}."))
    return found


def body_with(path: str, value: Any) -> dict[str, Any]:
    """A body holding `value` at the dotted `path` and nothing else."""
    head, _, rest = path.partition(".")
    return {head: body_with(rest, value) if rest else value}


def send(
    client: Client,
    op: Operation,
    who: Account | None,
    *,
    url: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    sent = dict(headers or {})
    if who is not None and not op.public:
        sent.update(who.headers)
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    return client.open(url or op.url(), method=op.method, data=data, headers=sent)


def assert_refused(response: Any, statuses: tuple[int, ...], field: str | None = None) -> None:
    text = response.get_data(as_text=True)
    assert response.status_code in statuses, text[:500]
    assert response.mimetype == "application/problem+json", text[:500]
    problem = json.loads(text)
    assert problem["status"] == response.status_code
    if field is not None and response.status_code == 422:
        named = {e["field"] for e in problem["errors"]}
        assert any(n == field or n.startswith(f"{field}.") for n in named), (field, named)


WITH_PATH_IDS = [op for op in OPERATIONS if op.params("path")]
WITH_QUERY = [op for op in OPERATIONS if op.params("query")]
WITH_BODY = [op for op in OPERATIONS if body_schema(op) is not None]
BODY_FIELDS = [(op, path, prop) for op in WITH_BODY for path, prop in fields(body_schema(op) or {})]


def ids(op: Operation) -> str:
    return op.label


# --- path and query --------------------------------------------------------------------


@pytest.mark.parametrize("op", WITH_PATH_IDS, ids=ids)
def test_a_path_id_that_is_not_a_uuid_is_404(client: Client, user: Account, op: Operation) -> None:
    for param in op.params("path"):
        for value in BAD_PATH_IDS:
            response = send(client, op, user, url=op.url(**{param["name"]: value}))
            assert_refused(response, (404,))


@pytest.mark.parametrize("op", WITH_QUERY, ids=ids)
def test_hostile_query_values_are_refused_or_harmless(
    client: Client, user: Account, op: Operation
) -> None:
    for param in op.params("query"):
        free_text = param["schema"].get("type") == "string" and not (
            {"format", "enum", "const"} & set(param["schema"])
        )
        for value in HOSTILE_QUERY_VALUES:
            response = client.open(
                op.url(),
                method=op.method,
                query_string={param["name"]: value},
                headers=user.headers,
            )
            if free_text and value.isprintable() and 0 < len(value) <= 200:
                assert response.status_code in (200, 422), (param["name"], value[:20])
            else:  # a typed parameter, a NUL, an empty or oversized value
                assert_refused(response, (422,), param["name"])


# --- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize(("op", "path", "prop"), BODY_FIELDS, ids=lambda v: getattr(v, "label", v))
def test_wrong_types_in_every_body_field_are_422(
    client: Client, user: Account, op: Operation, path: str, prop: dict[str, Any]
) -> None:
    allowed = json_types(prop)
    wrong = [value for kind, value in JSON_VALUES.items() if kind not in allowed]
    assert wrong, f"{path} accepts every JSON type"
    for value in wrong:
        assert_refused(send(client, op, user, body=body_with(path, value)), (422,), path)
    for option in options(prop):  # an array's items, one wrong value each
        if option.get("type") == "array":
            item_types = json_types(option.get("items", {}))
            bad = next(v for k, v in JSON_VALUES.items() if k not in item_types | {"null"})
            assert_refused(send(client, op, user, body=body_with(path, [bad])), (422,), path)


STRING_FIELDS = [
    (op, path, prop)
    for op, path, prop in BODY_FIELDS
    if "string" in json_types(prop) or any(o.get("type") == "array" for o in options(prop))
]


@pytest.mark.parametrize(
    ("op", "path", "prop"), STRING_FIELDS, ids=lambda v: getattr(v, "label", v)
)
def test_nul_bytes_in_every_string_field_are_422(
    client: Client, user: Account, op: Operation, path: str, prop: dict[str, Any]
) -> None:
    is_array = any(o.get("type") == "array" for o in options(prop))
    for value in ["\x00", "a\x00b", "x" * 10 + "\x00"]:
        body = body_with(path, [value] if is_array else value)
        assert_refused(send(client, op, user, body=body), (422,), path)


NUMBER_FIELDS = [
    (op, path, prop)
    for op, path, prop in BODY_FIELDS
    if "integer" in json_types(prop)
    or any("integer" in json_types(o.get("items", {})) for o in options(prop))
]


@pytest.mark.parametrize(
    ("op", "path", "prop"), NUMBER_FIELDS, ids=lambda v: getattr(v, "label", v)
)
def test_integers_beyond_int4_and_int8_are_422(
    client: Client, user: Account, op: Operation, path: str, prop: dict[str, Any]
) -> None:
    is_array = "integer" not in json_types(prop)
    for number in BIG_INTEGERS:
        body = body_with(path, [number] if is_array else number)
        assert_refused(send(client, op, user, body=body), (422,), path)
    # 1e309 is valid JSON whose value no integer or float holds
    text = json.dumps(body_with(path, ["N"] if is_array else "N")).replace('"N"', HUGE_FLOAT)
    assert_refused(send(client, op, user, raw=text.encode()), (400, 422))


def formatted(fmt: str) -> list[tuple[Operation, str, bool]]:
    found = []
    for op, path, prop in BODY_FIELDS:
        for option in options(prop):
            if option.get("format") == fmt:
                found.append((op, path, False))
            elif option.get("type") == "array" and resolve(option["items"]).get("format") == fmt:
                found.append((op, path, True))
    return found


@pytest.mark.parametrize(
    ("op", "path", "is_array"), formatted("uuid"), ids=lambda v: getattr(v, "label", v)
)
def test_malformed_uuids_in_bodies_are_422(
    client: Client, user: Account, op: Operation, path: str, is_array: bool
) -> None:
    for value in BAD_UUIDS:
        body = body_with(path, [value] if is_array else value)
        assert_refused(send(client, op, user, body=body), (422,), path)


@pytest.mark.parametrize(
    ("op", "path", "is_array"), formatted("date-time"), ids=lambda v: getattr(v, "label", v)
)
def test_malformed_timestamps_in_bodies_are_422(
    client: Client, user: Account, op: Operation, path: str, is_array: bool
) -> None:
    for value in BAD_TIMESTAMPS:
        body = body_with(path, [value] if is_array else value)
        assert_refused(send(client, op, user, body=body), (422,), path)


def test_the_bodies_cover_what_the_issue_lists() -> None:
    # Guards the generators above: they must find the fields they are meant to attack.
    assert len(WITH_BODY) >= 19
    assert {p for _, p, _ in formatted("date-time")} >= {
        "deadline",
        "remind_at",
        "recurrence.start_at",
        "recurrence.end_at",
        "expires_at",
    }
    assert {p for _, p, _ in formatted("uuid")} >= {"parent_id", "tag_ids"}
    assert {p for _, p, _ in NUMBER_FIELDS} >= {"priority", "recurrence.interval"}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("op", WITH_BODY, ids=ids)
def test_deeply_nested_json_is_400_or_422(client: Client, user: Account, op: Operation) -> None:
    first = next(iter(resolve(body_schema(op) or {})["properties"]))
    for depth in (100, 1_000, 30_000):  # 30 000 levels: 60 KB, under the size limit
        assert_refused(send(client, op, user, raw=nested(depth).encode()), (400, 422))
        raw = f'{{"{first}": {nested(depth)}}}'.encode()
        assert_refused(send(client, op, user, raw=raw), (400, 422))
    deep_object = '{"a":' * 10_000 + "1" + "}" * 10_000  # 60 KB
    assert_refused(send(client, op, user, raw=deep_object.encode()), (400, 422))


ARRAY_FIELDS = [
    (op, path, option)
    for op, path, prop in BODY_FIELDS
    for option in options(prop)
    if option.get("type") == "array"
]


def an_item(items: dict[str, Any]) -> Any:
    items = resolve(items)
    if items.get("format") == "uuid":
        return str(uuid.uuid4())
    if "integer" in json_types(items):
        return 1
    return "x"


@pytest.mark.parametrize(
    ("op", "path", "array"), ARRAY_FIELDS, ids=lambda v: getattr(v, "label", v)
)
def test_huge_arrays_are_422_within_64_kib_and_413_beyond(
    client: Client, user: Account, op: Operation, path: str, array: dict[str, Any]
) -> None:
    item = an_item(array["items"])
    fits = (60_000 // len(json.dumps(item) + ", ")) or 1  # under 64 KiB, far over maxItems
    body = json.dumps(body_with(path, [item] * fits)).encode()
    assert len(body) < 64 * 1024
    assert_refused(send(client, op, user, raw=body), (422,), path)
    zeros = json.dumps(body_with(path, [0] * 10**5)).encode()  # 10**5 items: ~300 KB
    assert_refused(send(client, op, user, raw=zeros), (413,))


def test_a_body_that_is_a_huge_array_is_refused(client: Client, user: Account) -> None:
    for op in WITH_BODY:
        raw = json.dumps([0] * 30_000, separators=(",", ":")).encode()  # 60 KB
        assert_refused(send(client, op, user, raw=raw), (422,))


# --- headers -----------------------------------------------------------------------------

HOSTILE_IF_MATCH = [
    '"99999999999999999999999999"',  # past int8
    '"2147483648"',  # past int4
    '"-1"',
    '"\u0661"',  # ARABIC-INDIC DIGIT ONE: a digit to str.isdigit, not the version "1"
    '"1"' * 1_000,
    'W/"1"',  # weak: never matches (strong comparison)
    "",
    "garbage",
]


def _item(client: Client, who: Account, collection: str) -> tuple[str, str]:
    bodies = {
        "todos": {"title": "t"},
        "memos": {"content": "m"},
        "contacts": {"name": "c"},
        "tags": {"name": f"t{uuid.uuid4().hex[:8]}"},
    }
    response = client.post(f"/v1/{collection}", json=bodies[collection], headers=who.headers)
    assert response.status_code == 201
    return response.get_json()["id"], response.headers["ETag"]


IF_MATCH_ON_ITEMS = [
    op
    for op in OPERATIONS
    if any(p["name"] == "If-Match" for p in op.params("header")) and op.params("path")
]


@pytest.mark.parametrize("op", IF_MATCH_ON_ITEMS, ids=ids)
def test_hostile_if_match_is_412_and_changes_nothing(
    client: Client, user: Account, op: Operation
) -> None:
    collection = op.path.split("/")[2]
    item, etag = _item(client, user, collection)
    assert etag == '"1"'
    param = op.params("path")[0]["name"]
    body = {"todos": {"title": "x"}, "memos": {"content": "x"}, "contacts": {"name": "x"}}
    patch = body.get(collection, {"name": f"x{uuid.uuid4().hex[:8]}"})
    for value in HOSTILE_IF_MATCH:
        response = send(
            client,
            op,
            user,
            url=op.url(**{param: item}),
            body=patch if op.method == "PATCH" else None,
            headers={"If-Match": value},
        )
        assert_refused(response, (412,))
    after = client.get(f"/v1/{collection}/{item}", headers=user.headers)
    assert after.status_code == 200
    assert after.headers["ETag"] == '"1"'  # nothing changed


@pytest.mark.parametrize("key", ["x" * 256, "tab\there", "\u00e9t\u00e9", "\x7f", "a" * 10_000])
def test_hostile_idempotency_keys_are_422(client: Client, user: Account, key: str) -> None:
    response = client.post(
        "/v1/todos", json={"title": "k"}, headers={**user.headers, "Idempotency-Key": key}
    )
    assert_refused(response, (422,), "Idempotency-Key")


# --- timestamps at the ends of the range, in the owner's time zone ----------------------

EXTREME_STARTS = ["0001-01-01T00:00:00Z", "0001-01-02T12:00:00+14:00", "9999-12-31T23:59:59Z"]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "America/Sitka", "UTC"])
def test_recurrences_at_the_ends_of_time_complete_without_a_500(client: Client, zone: str) -> None:
    owner = register(client, timezone=zone)
    for start, kind in itertools.product(EXTREME_STARTS, ["daily", "weekly", "monthly", "yearly"]):
        rule = {"type": kind, "interval": 1000, "start_at": start}
        body = {"title": "edge", "deadline": start, "remind_at": start, "recurrence": rule}
        created = client.post("/v1/todos", json=body, headers=owner.headers)
        assert created.status_code == 201, created.get_data(as_text=True)
        item = created.get_json()["id"]
        for action in ("complete", "complete", "reopen"):
            response = client.post(f"/v1/todos/{item}/{action}", headers=owner.headers)
            assert response.status_code == 200, (start, kind, response.get_data(as_text=True))
