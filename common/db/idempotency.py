"""`Idempotency-Key` for creating POSTs: one execution per (caller, key) within 24 hours.

Inside the request's transaction:
1. one statement takes a transaction-scoped advisory lock on (caller, key) without waiting
   and reads a stored response younger than 24 h: no lock means the same request is still
   running elsewhere (409); a stored response is replayed (or, for another body, 422);
2. the handler runs;
3. its response is stored. If another request with the key committed in between (possible
   only in the instant between step 1's snapshot and its lock), the insert finds that row
   and this request fails with 409 and rolls back: the key never creates twice.
Only successful responses are stored; a failed request can simply be retried.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, func, literal, select, text
from sqlalchemy.dialects.postgresql import insert

from common.db.engine import Session
from common.db.models import IdempotencyKey
from common.db.tables import bounded_delete

KEY_TTL = text("interval '24 hours'")
_table = IdempotencyKey


@dataclass(frozen=True)
class Stored:
    fingerprint: bytes
    status: int
    body: str
    headers: dict[str, str]


def fingerprint(*, method: str, path: str, body: Any) -> bytes:
    """What makes two requests "the same": method, path and the body's JSON value."""
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def lock_and_find(*, session: Session, user_id: uuid.UUID, key: str) -> tuple[bool, Stored | None]:
    """(got the lock, the stored response if any) in one statement."""
    lock_key = func.hashtextextended(literal(f"{user_id}:{key}"), 0)
    k = _table.alias("k")
    stmt = select(
        func.pg_try_advisory_xact_lock(lock_key).label("locked"),
        k.c.fingerprint,
        k.c.status_code,
        k.c.response_body,
        k.c.response_headers,
    ).select_from(
        select(literal(1).label("one"))
        .subquery("one")
        .outerjoin(
            k,
            (k.c.user_id == user_id) & (k.c.key == key) & (k.c.created_at > func.now() - KEY_TTL),
        )
    )
    row = session.execute(stmt).one()
    if row.fingerprint is None:
        return bool(row.locked), None
    stored = Stored(row.fingerprint, row.status_code, row.response_body, row.response_headers)
    return bool(row.locked), stored


def store(
    *,
    session: Session,
    user_id: uuid.UUID,
    key: str,
    fingerprint: bytes,
    status: int,
    body: str,
    headers: dict[str, str],
) -> bool:
    """Keep the response; False when a live row for the key already exists."""
    values = {
        "user_id": user_id,
        "key": key,
        "fingerprint": fingerprint,
        "status_code": status,
        "response_body": body,
        "response_headers": headers,
    }
    new = insert(_table).values(**values)
    replaced = {k: new.excluded[k] for k in values if k not in ("user_id", "key")}
    stmt = new.on_conflict_do_update(
        index_elements=[_table.c.user_id, _table.c.key],
        set_={**replaced, "created_at": func.now()},
        where=_table.c.created_at <= func.now() - KEY_TTL,  # only an expired key is reused
    ).returning(_table.c.key)
    return session.execute(stmt).first() is not None


def expired_rows(limit: int) -> list[Delete]:
    """A bounded delete of keys past their 24 hours (for common.db.housekeeping)."""
    k = _table
    expired = k.c.created_at <= func.now() - KEY_TTL
    return [bounded_delete(k, [k.c.user_id, k.c.key], expired, limit)]
