"""Keyset pagination with opaque, tamper-evident cursors.

A list is ordered by one sort key plus `id` (unique), so "the rows after the last one seen"
is a plain comparison on (key, id): walking every page returns every matching row exactly
once, even while rows are inserted (a new row lands before or after the cursor, never
twice). Descending sorts are the exact reverse of ascending ones, NULLs included
(`deadline` ascending puts todos without a deadline last; `-deadline` puts them first), so
one ascending index serves both directions.

A cursor is `base64url(json).base64url(hmac)`: the position plus the list it belongs to
(resource, caller, sort and a digest of the filters), signed with `CURSOR_SECRET`. A cursor
that was altered, or that belongs to another list or another caller, is a `422`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import ColumnElement, and_, func, literal_column, or_, tuple_
from sqlalchemy.sql.elements import UnaryExpression

from common.config import get_settings
from common.errors import FieldError, ValidationFailed
from common.schemas.base import Schema, Str, no_nul

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_INT4_MIN, _INT4_MAX = -(2**31), 2**31 - 1  # PostgreSQL `integer`


class ListQuery(Schema):
    """The paging parameters every list accepts."""

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, max_length=1024)


class ShareableListQuery(ListQuery):
    """The filters every shareable list (todos, memos, contacts) accepts."""

    scope: Literal["all", "owned", "shared"] = Field(
        default="all", description="own items, items shared with the caller, or both"
    )
    pinned: bool | None = None
    tag: uuid.UUID | None = Field(default=None, description="one of the caller's tag ids")
    q: Str | None = Field(default=None, min_length=1, max_length=200, description="search")


@dataclass(frozen=True)
class SortKey:
    """A sort offered by a list: the column, its direction, how its values travel in a cursor."""

    column: Any  # a SQLAlchemy column of the listed table
    descending: bool
    kind: Literal["datetime", "int", "str"]
    nullable: bool = False

    def order_by(self, id_column: Any) -> list[UnaryExpression[Any]]:
        if self.descending:
            return [self.column.desc().nulls_first(), id_column.desc()]
        return [self.column.asc().nulls_last(), id_column.asc()]

    def after(self, id_column: Any, value: Any, last_id: Any) -> ColumnElement[bool]:
        """Rows strictly after (value, last_id) in this order (values, or parameters)."""
        col = self.column
        pair, seen = tuple_(col, id_column), tuple_(value, last_id)  # values or parameters
        if not self.nullable:
            return pair < seen if self.descending else pair > seen
        if self.descending:  # NULLs first, then values descending
            if value is None:
                return or_(and_(col.is_(None), id_column < last_id), col.is_not(None))
            return pair < seen
        if value is None:  # values ascending, then NULLs
            return and_(col.is_(None), id_column > last_id)
        return or_(pair > seen, col.is_(None))

    def encode(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    def encoded(self) -> Any:
        """The column as `encode` writes its values, computed by PostgreSQL: a timestamp as
        the text `datetime.isoformat()` makes of it in UTC (every list row carries its
        position, and pg8000 parses timestamps with strptime; text passes as it is)."""
        if self.kind != "datetime":
            return self.column
        utc = func.timezone(literal_column("'UTC'"), self.column)
        text = func.to_char(utc, literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'"""))
        return func.replace(text, literal_column("'.000000+'"), literal_column("'+'"))

    def decode(self, raw: Any) -> Any:
        """The value `encode` wrote as `raw`; a ValueError for anything `encode` never writes.

        A cursor's signature proves only that someone holding the secret made it (the dev
        secret is public), so the value is checked as untrusted input would be: it must be
        exactly what `encode` makes of a value of this sort's column, which PostgreSQL and
        pg8000 then take without complaint. Datetimes: aware, in UTC (as the database hands
        them out), written back identically, so no offset can carry them past year 9999 and
        no trailing text survives; integers: of the `integer` (int4) columns; strings: valid
        Unicode without NUL."""
        if raw is None:
            if not self.nullable:
                raise ValueError("null position")
            return None
        if self.kind == "datetime":
            if not isinstance(raw, str):
                raise ValueError("not a timestamp")
            value = datetime.fromisoformat(raw)
            if value.utcoffset() != timedelta(0) or self.encode(value) != raw:
                raise ValueError("not a timestamp of ours")
            return value
        if self.kind == "str":
            if not isinstance(raw, str):
                raise ValueError("not a string")
            raw.encode()  # a lone surrogate cannot be sent: UnicodeEncodeError, a ValueError
            return no_nul(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or not _INT4_MIN <= raw <= _INT4_MAX:
            raise ValueError("not an integer of an int4 column")
        return raw


def both_ways(
    column: Any, kind: Literal["datetime", "int", "str"], *, nullable: bool = False
) -> dict[str, SortKey]:
    """The sorts `name` (ascending) and `-name` (its exact reverse) on a column."""
    return {
        column.name: SortKey(column, descending=False, kind=kind, nullable=nullable),
        f"-{column.name}": SortKey(column, descending=True, kind=kind, nullable=nullable),
    }


def timestamp_sorts(table: Any) -> dict[str, SortKey]:
    """created_at and updated_at, both ways: the sorts every resource list offers."""
    return {
        **both_ways(table.c.created_at, "datetime"),
        **both_ways(table.c.updated_at, "datetime"),
    }


def list_scope(*, resource: str, user_id: uuid.UUID, sort: str, filters: dict[str, Any]) -> str:
    """What a cursor is bound to: the resource, the caller, the sort and the filters."""
    digest = hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[
        :16
    ]
    return f"{resource}:{user_id}:{sort}:{digest}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: str) -> str:
    key = get_settings().cursor_secret.get_secret_value().encode()
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest()[:18])


def encode_cursor(*, scope: str, sort: SortKey, value: Any, last_id: uuid.UUID | str) -> str:
    payload = _b64(json.dumps([scope, sort.encode(value), str(last_id)]).encode())
    return f"{payload}.{_sign(payload)}"


def decode_cursor(cursor: str, *, scope: str, sort: SortKey) -> tuple[Any, uuid.UUID]:
    """The (value, id) position in a cursor made for this list, or a 422.

    Anything that is not a cursor we made is refused here, whatever it holds: a bad
    signature, JSON of another shape, a position `SortKey.decode` or the id check refuses."""
    try:
        payload, _, signature = cursor.partition(".")
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
        if not hmac.compare_digest(signature.encode(), _sign(payload).encode()):
            raise ValueError("bad signature")
        parts = json.loads(_unb64(payload))
        if not isinstance(parts, list) or len(parts) != 3:
            raise ValueError("not a cursor's shape")
        bound, raw_value, raw_id = parts
        if bound != scope:
            raise ValueError("cursor of another list")
        if not isinstance(raw_id, str) or str(last_id := uuid.UUID(raw_id)) != raw_id:
            raise ValueError("not an id as we write it")
        return sort.decode(raw_value), last_id
    except (ValueError, TypeError, binascii.Error, RecursionError):
        # UnicodeError and JSONDecodeError are ValueErrors.
        raise ValidationFailed(
            [FieldError("cursor", "invalid cursor: start again from the first page")]
        ) from None


def next_cursor(
    rows: list[Any], *, limit: int, scope: str, sort: SortKey
) -> tuple[list[Any], str | None]:
    """Trim the `limit + 1` rows a page query fetched; a cursor only if more rows exist.
    Rows are mappings with `id` and the sort column (values, or text as `encode` writes
    them: SortKey.encoded)."""
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    last = page[-1]
    value = last[sort.column.name]
    return page, encode_cursor(scope=scope, sort=sort, value=value, last_id=last["id"])


def position(cursor: str | None, *, scope: str, sort: SortKey) -> tuple[Any, uuid.UUID] | None:
    """Where the page after `cursor` starts: None for the first page, else the decoded
    (value, id) of the last row seen (a 422 for a cursor not made for this list)."""
    return None if cursor is None else decode_cursor(cursor, scope=scope, sort=sort)


def seal(values: list[Any]) -> str:
    """`values` (JSON) as an opaque, tamper-evident string signed like cursors: what change
    feeds hand out as cursors and sync tokens (common.sync)."""
    payload = _b64(json.dumps(values, separators=(",", ":")).encode())
    return f"{payload}.{_sign(payload)}"


def unseal(sealed: str) -> Any:
    """The values `seal` made `sealed` from, or None when it is not a string we made."""
    payload, _, signature = sealed.partition(".")
    try:
        if not hmac.compare_digest(signature.encode(), _sign(payload).encode()):
            return None
        return json.loads(_unb64(payload))
    except (ValueError, binascii.Error):  # UnicodeError included: lone surrogates
        return None
