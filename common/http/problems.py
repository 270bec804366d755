"""The one place where errors become RFC 9457 problems.

`common.errors` types carry their status; Flask's own HTTP errors keep theirs; a database that
cannot serve is 503 with Retry-After; anything else is a 500 with only the request id (the
traceback goes to the log, never to the client).
"""

from __future__ import annotations

import logging

import flask
import functions_framework
from sqlalchemy.exc import StatementError
from werkzeug import exceptions as wz

from common import errors
from common.db import is_retryable, is_unavailable
from common.db.engine import sqlstate
from common.http.inputs import request_id
from common.http.responses import without_reading_the_body
from common.schemas import FieldErrorOut, Problem

log = logging.getLogger(__name__)


def problem_response(error: errors.ApiError, request_id: str) -> flask.Response:
    body = Problem(
        title=error.title,
        status=error.status,
        detail=error.detail,
        request_id=request_id,
        errors=(
            [FieldErrorOut(field=e.field, message=e.message) for e in error.errors]
            if error.errors is not None
            else None
        ),
    )
    return flask.Response(
        body.model_dump_json(exclude_none=True),
        status=error.status,
        headers=error.headers,
        mimetype="application/problem+json",
    )


def as_api_error(exc: Exception, *, attempts: int) -> errors.ApiError:
    """The problem to answer for `exc` (raised after `attempts` runs of the transaction)."""
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, wz.HTTPException) and exc.code is not None and exc.code < 500:
        mapped = errors.ApiError(exc.description)
        mapped.status = exc.code
        return mapped
    state = sqlstate(exc)
    if state == "23505":  # unique violation that no statement anticipated: a race, or a duplicate
        return errors.Conflict("This conflicts with an existing resource.")
    if state == "23503" and "_user_id_users" in str(getattr(exc, "orig", "")):
        # A token outliving its account (deleted): the user row the write refers to is gone.
        return errors.Unauthorized("The account of this token no longer exists.")
    if is_unavailable(exc):
        log.warning("database unavailable", extra={"error_type": type(exc).__name__})
        return errors.ServiceUnavailable()
    if is_retryable(exc):  # still conflicting after every attempt: contention, not a bug
        log.warning("transaction conflict, giving up", extra={"attempt": attempts})
        return errors.ServiceUnavailable("The request kept conflicting with others; retry it.")
    if isinstance(exc, StatementError):
        # The log keeps the statement, never its values (emails, password and token hashes).
        exc.hide_parameters = True
    log.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return errors.InternalError()


def install_flask_handlers() -> None:
    """Flask's own errors (outside our routes: /robots.txt, a 413 from werkzeug) as problems,
    through functions-framework's `errorhandler` (the app whose function is being loaded)."""

    def handle(exc: wz.HTTPException) -> flask.Response:
        rid = request_id(flask.request)
        response = problem_response(as_api_error(exc, attempts=1), rid)
        response.headers["X-Request-Id"] = rid  # every response carries it
        return without_reading_the_body(response)

    functions_framework.errorhandler(wz.HTTPException)(handle)
