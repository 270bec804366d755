"""`Idempotency-Key` on creating POSTs: at most one execution per (caller, key); the storage
and its guarantees are in common.db.idempotency."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import flask

from common import errors
from common.http.inputs import Ctx

_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def once(ctx: Ctx, key: str, raw_body: Any, run: Callable[[], flask.Response]) -> flask.Response:
    """`run()`'s response, or the stored response of an earlier run with this key."""
    from common.db import idempotency

    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise errors.ValidationFailed(
            [errors.FieldError("Idempotency-Key", "must be 1-255 printable ASCII characters")]
        )
    print_ = idempotency.fingerprint(
        method=ctx.request.method, path=ctx.request.path, body=raw_body
    )
    locked, stored = idempotency.lock_and_find(session=ctx.session, user_id=ctx.user_id, key=key)
    if not locked:
        raise errors.Conflict("A request with this Idempotency-Key is still in progress.")
    if stored is not None:
        if stored.fingerprint != print_:
            raise errors.ValidationFailed(
                [errors.FieldError("Idempotency-Key", "was used for a different request")]
            )
        headers = {**stored.headers, "Idempotent-Replayed": "true"}
        return flask.Response(
            stored.body, status=stored.status, headers=headers, mimetype="application/json"
        )
    response = run()
    kept = {k: v for k, v in response.headers.items() if k in ("Location", "ETag")}
    if not idempotency.store(
        session=ctx.session,
        user_id=ctx.user_id,
        key=key,
        fingerprint=print_,
        status=response.status_code,
        body=response.get_data(as_text=True),
        headers=kept,
    ):
        raise errors.Conflict("A request with this Idempotency-Key has just completed; retry.")
    return response
