"""From a functions-framework request to a route's handler and back.

A function's `main.py` builds one `Api`, registers its routes with decorators and hands every
request to `Api.handle`. This module owns what every request goes through: the request id,
the trace, routing (404/405), authentication, JSON body and query validation (400/413/415/422),
one database transaction per request (committed once, retried on serialization failures),
the response, the request log line, and the one place that turns errors into RFC 9457
problems (503 with Retry-After when the database is unavailable, 500 with only the request id
for anything unexpected).

A handler receives a `Ctx` and its validated inputs as keyword arguments, and returns a
schema (200), a `Reply` (another status, headers), or None (204).
"""

from __future__ import annotations

import decimal
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import flask
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session
from werkzeug import exceptions as wz
from werkzeug.routing import Map, Rule

from common import errors
from common.config import get_settings
from common.db import count_queries, get_engine, is_retryable, is_unavailable, new_session
from common.db.engine import sqlstate
from common.logging import LogContext, configure_logging, log_context
from common.schemas import FieldErrorOut, Health, Problem
from common.schemas.base import Patch

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_ATTEMPTS = 3  # a transaction hit by a serialization failure or deadlock runs again
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_CLOUD_TRACE = re.compile(r"([0-9a-f]{32})(?:/([0-9]+))?")
_JSON_TYPES = ("application/json",)
_VERSION_TAG = re.compile(r'"([0-9]{1,10})"')  # a strong ETag: "<version>"
_MAX_VERSION = 2**31 - 1  # versions are PostgreSQL integers

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


@dataclass
class Reply:
    """A handler's answer when 200 with a body is not the whole story."""

    body: BaseModel | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    public: bool
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: type[BaseModel] | None
    status: int
    errors: tuple[int, ...]
    summary: str
    headers: tuple[str, ...] = ()
    idempotent: bool = False  # a creating POST: honours Idempotency-Key


class Ctx:
    """What a handler knows about its request. The session opens on first use."""

    def __init__(self, request: flask.Request, request_id: str) -> None:
        self.request = request
        self.request_id = request_id
        self._user_id: uuid.UUID | None = None
        self._session: Session | None = None

    @property
    def user_id(self) -> uuid.UUID:
        """The authenticated caller (every non-public route has one)."""
        if self._user_id is None:
            raise RuntimeError("user_id read on a public route")
        return self._user_id

    @property
    def session(self) -> Session:
        """This request's session: one transaction, committed once after the handler returns."""
        if self._session is None:
            self._session = new_session()
            self._session.begin()
        return self._session

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


def etag(version: int) -> dict[str, str]:
    """The ETag header of a resource at `version`."""
    return {"ETag": f'"{version}"'}


_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def _once(
    ctx: Ctx, route: Route, key: str, raw_body: Any, handler: Callable[[], Any]
) -> flask.Response:
    """Run a creating POST at most once per (caller, Idempotency-Key); see common.db.idempotency."""
    from common.db import idempotency

    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise errors.ValidationFailed(
            [errors.FieldError("Idempotency-Key", "must be 1-255 printable ASCII characters")]
        )
    print_ = idempotency.fingerprint(
        method=ctx.request.method, path=ctx.request.path, body=raw_body
    )
    locked, stored = idempotency.lock_and_find(ctx.session, user_id=ctx.user_id, key=key)
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
    response = _to_response(route, handler())
    kept = {k: v for k, v in response.headers.items() if k in ("Location", "ETag")}
    if not idempotency.store(
        ctx.session,
        user_id=ctx.user_id,
        key=key,
        fingerprint=print_,
        status=response.status_code,
        body=response.get_data(as_text=True),
        headers=kept,
    ):
        raise errors.Conflict("A request with this Idempotency-Key has just completed; retry.")
    return response


class Api:
    """The routes of one function and the request pipeline they share."""

    def __init__(self, function: str) -> None:
        settings = get_settings()  # fail fast: bad config kills the cold start, not a request
        configure_logging(settings.log_level)
        self.function = function
        self.prefix = f"/v1/{function}"
        self.routes: list[Route] = []
        self._map = Map(strict_slashes=False, merge_slashes=False)
        self.route("GET", "/health", public=True, response=Health, summary="Liveness and database")(
            self._health
        )
        self.route("GET", "/openapi.json", public=True, summary="This function's OpenAPI document")(
            self._openapi
        )
        if flask.has_app_context():
            _install_flask_handlers(flask.current_app)

    # --- registration ---------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        *,
        public: bool = False,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        summary: str = "",
        headers: tuple[str, ...] = (),
        idempotent: bool = False,
    ) -> Callable[[H], H]:
        """Register a handler for `method` on `prefix + path` (werkzeug rule syntax)."""

        def register(handler: H) -> H:
            full = self.prefix + path if path != "/" else self.prefix
            route = Route(
                method=method,
                path=full,
                handler=handler,
                public=public,
                body=body,
                query=query,
                response=response,
                status=status,
                errors=errors,
                summary=summary or (handler.__doc__ or "").strip().split("\n")[0],
                headers=(*headers, "Idempotency-Key") if idempotent else headers,
                idempotent=idempotent,
            )
            self.routes.append(route)
            self._map.add(Rule(full, methods=[method], endpoint=route))
            return handler

        return register

    # --- the built-in routes ---------------------------------------------------------

    def _health(self, ctx: Ctx) -> Reply:
        """`200` with the database reachable, `503` when it is not. No auth."""
        release = get_settings().release
        try:
            with get_engine().connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            down = Health(
                status="unavailable",
                function=self.function,
                version=release,
                database="unavailable",
            )
            return Reply(down, status=503, headers={"Retry-After": "5"})
        return Reply(Health(status="ok", function=self.function, version=release, database="ok"))

    def _openapi(self, ctx: Ctx) -> flask.Response:
        """This function's OpenAPI 3.1 document. No auth."""
        from common.openapi import build_openapi

        return flask.Response(json.dumps(build_openapi([self])), mimetype="application/json")

    # --- the pipeline -----------------------------------------------------------------

    def handle(self, request: flask.Request) -> flask.Response:
        """The function's entry point calls this with every request."""
        started = time.perf_counter()
        request_id = _request_id(request)
        ctx_log = LogContext(request_id=request_id, function=self.function)
        _trace(request, ctx_log)
        token = log_context.set(ctx_log)
        route: Route | None = None
        try:
            with count_queries() as stats:
                try:
                    route, args = self._match(request)
                    response = self._run(route, request, request_id, args, ctx_log)
                except Exception as exc:
                    response = problem_response(_as_api_error(exc), request_id)
            response.headers["X-Request-Id"] = request_id
            latency_ms = round((time.perf_counter() - started) * 1000, 2)
            log.log(
                logging.ERROR if response.status_code >= 500 else logging.INFO,
                "%s %s %s",
                request.method,
                route.path if route else "(no route)",
                response.status_code,
                extra={
                    "request_id": request_id,
                    "route": route.path if route else None,
                    "method": request.method,
                    "status": response.status_code,
                    "latency_ms": latency_ms,
                    "db_queries": stats.count,
                    "db_ms": round(stats.ms, 2),
                    "http_request": {
                        "requestMethod": request.method,
                        "requestUrl": request.path,
                        "status": response.status_code,
                        "latency": f"{latency_ms / 1000:.6f}s",
                        "protocol": request.environ.get("SERVER_PROTOCOL"),
                    },
                },
            )
            return response
        finally:
            log_context.reset(token)

    def _match(self, request: flask.Request) -> tuple[Route, dict[str, Any]]:
        adapter = self._map.bind_to_environ(request.environ)
        try:
            route, args = adapter.match(request.path, method=request.method)
        except wz.MethodNotAllowed as exc:
            raise errors.MethodNotAllowed(list(exc.valid_methods or [])) from None
        except (wz.NotFound, wz.HTTPException):
            raise errors.NotFound("No such route.") from None
        assert isinstance(route, Route)
        return route, dict(args)

    def _run(
        self,
        route: Route,
        request: flask.Request,
        request_id: str,
        args: dict[str, Any],
        ctx_log: LogContext,
    ) -> flask.Response:
        ctx = Ctx(request, request_id)
        if not route.public:
            from common.auth.bearer import (
                authenticate,  # only functions with private routes load it
            )

            ctx._user_id = authenticate(request)
            ctx_log.user_id = str(ctx._user_id)
        kwargs = dict(args)
        if route.query is not None:
            kwargs["query"] = _validate(route.query, request.args.to_dict(), prefix="")
        raw_body = None
        if route.body is not None:
            raw_body = read_json(request)
            kwargs["body"] = _validate_body(route.body, raw_body)
        key = request.headers.get("Idempotency-Key") if route.idempotent else None

        def call() -> flask.Response:
            if key is not None:
                return _once(ctx, route, key, raw_body, lambda: route.handler(ctx, **kwargs))
            return _to_response(route, route.handler(ctx, **kwargs))

        return self._invoke(ctx, call)

    def _invoke(self, ctx: Ctx, call: Callable[[], flask.Response]) -> flask.Response:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ctx._session = None
            try:
                result = call()
                if ctx._session is not None:
                    ctx._session.commit()
                return result
            except Exception as exc:
                if attempt < MAX_ATTEMPTS and is_retryable(exc):
                    log.warning("transaction conflict, retrying", extra={"attempt": attempt})
                    time.sleep(random.uniform(0.005, 0.025) * attempt)  # noqa: S311 (jitter)
                    continue
                raise
            finally:
                if ctx._session is not None:
                    ctx._session.close()  # rolls back whatever was not committed
        raise AssertionError("unreachable")


# --- inputs ---------------------------------------------------------------------------


def _request_id(request: flask.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    return given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _trace(request: flask.Request, ctx: LogContext) -> None:
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


def _validate[M: BaseModel](model: type[M], data: Any, *, prefix: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise errors.ValidationFailed(field_errors(exc, prefix=prefix)) from None


def _validate_body[M: BaseModel](model: type[M], data: Any) -> M:
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


# --- outputs --------------------------------------------------------------------------


def json_response(
    body: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> flask.Response:
    return flask.Response(
        body.model_dump_json(), status=status, headers=headers, mimetype="application/json"
    )


def _to_response(route: Route, result: Any) -> flask.Response:
    if isinstance(result, flask.Response):
        return result
    if result is None:
        result = Reply(status=204)
    if isinstance(result, Reply):
        if result.body is None:
            response = flask.Response(status=result.status, headers=result.headers)
            del response.headers["Content-Type"]  # no body, no media type (not text/html)
            return response
        return json_response(result.body, result.status, result.headers)
    if isinstance(result, BaseModel):
        return json_response(result, route.status)
    raise TypeError(f"handler returned {type(result).__name__}")


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


def _as_api_error(exc: Exception) -> errors.ApiError:
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
    if is_retryable(exc):  # still conflicting after MAX_ATTEMPTS: contention, not a bug
        log.warning("transaction conflict, giving up", extra={"attempt": MAX_ATTEMPTS})
        return errors.ServiceUnavailable("The request kept conflicting with others; retry it.")
    if isinstance(exc, StatementError):
        # The log keeps the statement, never its values (emails, password and token hashes).
        exc.hide_parameters = True
    log.error("unhandled error", exc_info=exc, extra={"error_type": type(exc).__name__})
    return errors.InternalError()


def _install_flask_handlers(app: flask.Flask) -> None:
    """Flask's own errors (outside our routes: /robots.txt, a 413 from werkzeug) as problems."""

    def handle(exc: wz.HTTPException) -> flask.Response:
        request_id = _request_id(flask.request)
        response = problem_response(_as_api_error(exc), request_id)
        response.headers["X-Request-Id"] = request_id  # every response carries it
        return response

    app.register_error_handler(wz.HTTPException, handle)
