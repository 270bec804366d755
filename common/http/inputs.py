"""What a request brings: `Ctx` for the handler, the JSON body, validated inputs, If-Match,
the request id and the trace."""

from __future__ import annotations

import decimal
import json
import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError

from common import errors
from common.config import get_settings
from common.db import new_session
from common.db.engine import Session
from common.logging import LogContext
from common.schemas.base import Patch

MAX_BODY_BYTES = 64 * 1024
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/([0-9]+))?")
_JSON_TYPES = ("application/json",)
_VERSION_TAG = re.compile(r'"([0-9]{1,10})"')  # a strong ETag: "<version>"
_MAX_VERSION = 2**31 - 1  # versions are PostgreSQL integers


class Ctx:
    """What a handler knows about its request. The session opens on first use."""

    def __init__(self, request: flask.Request, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        self._user_id: uuid.UUID | None = None
        self._session: Session | None = None
        self._after_commit: list[Callable[[], None]] = []

    @property
    def user_id(self) -> uuid.UUID:
        """The authenticated caller (every non-public route has one)."""
        if self._user_id is None:
            raise RuntimeError("user_id read on a public route")
        return self._user_id

    @property
    def session(self) -> Session:
        """This request's session: one transaction, committed once after the handler returns
        (on a GET route, each statement a read-only transaction of its own: the pipeline's
        `reads_only`)."""
        if self._session is None:
            self._session = new_session()
            self._session.begin()
        return self._session

    def after_commit(self, work: Callable[[], None]) -> None:
        """Run `work` once this request's transaction has committed (never after a rollback,
        nor for an attempt that is retried): for work that must see what the request wrote
        and must not hold its answer up, such as handing a queued mail to the sender."""
        self._after_commit.append(work)

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    def if_match(self) -> frozenset[int] | None:
        """The versions `If-Match` accepts; None when absent or `*` (any current version).

        Strong comparison (RFC 9110 §13.1.1): weak tags and malformed values match nothing,
        so a client holding them gets 412 rather than an unchecked write."""
        header = self.request.headers.get("If-Match")
        if header is None or header.strip() == "*":
            return None
        versions = set()
        for part in header.split(","):
            # ASCII digits only ("\u0661" is a digit to str.isdigit), and no version past
            # the column's range: such a tag matches nothing (and must not reach the SQL).
            if (m := _VERSION_TAG.fullmatch(part.strip())) and int(m[1]) <= _MAX_VERSION:
                versions.add(int(m[1]))
        return frozenset(versions)


def request_id(request: flask.Request) -> str:
    """The caller's X-Request-Id when it is 1-64 of [A-Za-z0-9._-], else a new one."""
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def trace(request: flask.Request, ctx: LogContext) -> None:
    """The trace and span of `traceparent` (or X-Cloud-Trace-Context) into the log context."""
    trace_id = span_id = None
    if m := _TRACEPARENT.fullmatch(request.headers.get("traceparent", "").strip()):
        trace_id, span_id = m.group(1), m.group(2)
    elif m := _CLOUD_TRACE.match(request.headers.get("X-Cloud-Trace-Context", "")):
        trace_id = m.group(1)
        span_id = f"{int(m.group(2)):016x}" if m.group(2) else None
    if trace_id:
        project = get_settings().google_cloud_project
        ctx.trace = f"projects/{project}/traces/{trace_id}" if project else trace_id
        ctx.span_id = span_id


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_number(text: str) -> int | float:
    """`74.0` and `7.4e1` are the integer 74, as JSON Schema's `integer` counts them."""
    number = decimal.Decimal(text)
    if number.adjusted() < 19 and number == number.to_integral_value():
        return int(number)
    return float(text)


def read_json(request: flask.Request) -> Any:
    """The body as JSON: 413 over 64 KiB (chunked bodies included), 415, 400."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge()
    if request.mimetype not in _JSON_TYPES:
        raise errors.UnsupportedMediaType()
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise errors.UnsupportedMediaType("The request body must be UTF-8 JSON.")
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise errors.PayloadTooLarge()
    if not data.strip():
        raise errors.BadRequest("The request body is empty; send a JSON object.")
    try:
        return json.loads(
            data.decode("utf-8"), parse_constant=_reject_constant, parse_float=_json_number
        )
    except (ValueError, RecursionError):
        raise errors.BadRequest("The request body is not valid JSON.") from None


M = TypeVar("M", bound=BaseModel)


def validate_query[M: BaseModel](model: type[M], data: Any) -> M:
    """Query parameters (strings, converted as pydantic's lax mode does)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(field_errors(exc)) from None


def validate_body[M: BaseModel](model: type[M], data: Any) -> M:
    """Bodies are validated strictly, as JSON: "5" is not an integer, "yes" not a boolean."""
    try:
        body = model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise errors.ValidationFailed(field_errors(exc)) from None
    if isinstance(body, Patch) and (nulls := body.null_fields()):
        raise errors.ValidationFailed([errors.FieldError(f, "may not be null") for f in nulls])
    return body


def field_errors(exc: ValidationError, *, prefix: str = "") -> list[errors.FieldError]:
    """One entry per invalid field, dotted paths (`recurrence.interval`), no input echoed."""
    found: list[errors.FieldError] = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in err["loc"])
        name = f"{prefix}{path}" if path else (prefix.rstrip(".") or "body")
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        if message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        found.append(errors.FieldError(field=name, message=message))
    return found
