"""`Api`: one function's routes and the way every request goes through them."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import flask
from pydantic import BaseModel
from sqlalchemy import text
from werkzeug import exceptions as wz
from werkzeug.routing import Map, Rule

from common import errors
from common.config import get_settings
from common.db import (
    count_queries,
    get_engine,
    is_lost_connection,
    is_retryable,
    is_unavailable,
    reading_only,
)
from common.http import cors, inputs
from common.http.idempotency import once
from common.http.inputs import Ctx
from common.http.problems import as_api_error, install_flask_handlers, problem_response
from common.http.responses import Reply, to_response, without_reading_the_body
from common.logging import LogContext, configure_logging, log_context
from common.schemas import Health

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3  # a transaction hit by a serialization failure or deadlock runs again

Handler = Callable[..., Any]
H = TypeVar("H", bound=Handler)


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
    also: tuple[int, ...] = ()  # other success statuses, with the same response schema


class Api:
    """The routes of one function and the request pipeline they share."""

    def __init__(self, function: str) -> None:
        settings = get_settings()  # fail fast: bad config kills the cold start, not a request
        configure_logging(settings.log_level)
        self.function = function
        self.prefix = f"/v1/{function}"
        self.routes: list[Route] = []
        self._map = Map(strict_slashes=False, merge_slashes=False)
        # Bound once, not per request (`bind_to_environ`, ~15 us): matching uses only the
        # path and method; the server name would only go into redirects, which are 404s here.
        self._urls = self._map.bind("localhost")
        self._warm: set[Route | None] = set()  # routes served once (None: no route)
        self.add(
            "GET",
            "/health",
            self._health,
            public=True,
            response=Health,
            summary="Liveness and database",
        )
        self.add(
            "GET",
            "/openapi.json",
            self._openapi,
            public=True,
            summary="This function's OpenAPI document",
        )
        install_flask_handlers()

    # --- registration ---------------------------------------------------------------

    def add(
        self,
        method: str,
        path: str,
        handler: Handler,
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
        also: tuple[int, ...] = (),
    ) -> None:
        """Serve `method` on `prefix + path` (werkzeug rule syntax) with `handler`.

        `body`, `query`: the schemas the inputs are validated with (passed to the handler as
        `body=` and `query=`); `response`: the schema of a 2xx body; `errors`: the statuses
        the route adds to those the pipeline answers (for the OpenAPI document); `headers`:
        request headers it reads; `idempotent`: a creating POST honouring Idempotency-Key;
        `also`: success statuses besides `status` (a sign-in: 200, or 201 when it creates)."""
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
            also=also,
        )
        self.routes.append(route)
        self._map.add(Rule(full, methods=[method], endpoint=route))

    def route(self, method: str, path: str, **options: Any) -> Callable[[H], H]:
        """`add` as a decorator: `@api.route("GET", "/me", response=UserOut)`."""

        def register(handler: H) -> H:
            self.add(method, path, handler, **options)
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
        request_id = inputs.request_id(request)
        ctx_log = LogContext(request_id=request_id, function=self.function)
        inputs.trace(request, ctx_log)
        token = log_context.set(ctx_log)
        route: Route | None = None
        try:
            with count_queries() as stats:
                try:
                    if cors.is_preflight(request):
                        response = cors.preflight(request)
                    else:
                        route, args = self._match(request)
                        response = self._run(route, request, request_id, args, ctx_log)
                except Exception as exc:
                    error = as_api_error(exc, attempts=MAX_ATTEMPTS)
                    response = problem_response(error, request_id)
            cors.mark(request, response)
            response.headers["X-Request-Id"] = request_id
            without_reading_the_body(response)
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
            if route not in self._warm:
                self._freeze_the_heap(route)

    def _freeze_the_heap(self, route: Route | None) -> None:
        """After the first request of each route: move every object alive now (the imports,
        the app, what the route's first request loaded: the token check's modules, the
        engine, its compiled statements) out of the garbage collector's sight. They live as
        long as the process, yet each full collection walked all of them (~110 000 objects,
        70-200 ms, in the middle of some request: the tail of issue 18). Per route, not once:
        a process's first request is often /health, before anything a real route loads.
        Not `gc.collect()` first: that would cost the first request as much again; each
        route's first request's cycles stay (a few dozen objects, bounded by the routes).
        Two first requests in parallel freeze twice, which is harmless."""
        self._warm.add(route)
        gc.freeze()

    def _match(self, request: flask.Request) -> tuple[Route, dict[str, Any]]:
        try:
            route, args = self._urls.match(request.path, method=request.method)
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
            from common.auth.bearer import authenticate  # only functions with private routes

            ctx._user_id = authenticate(request)
            ctx_log.user_id = str(ctx._user_id)
        kwargs = dict(args)
        if route.query is not None:
            kwargs["query"] = inputs.validate_query(route.query, request.args.to_dict())
        raw_body = None
        if route.body is not None:
            raw_body = inputs.read_json(request)
            kwargs["body"] = inputs.validate_body(route.body, raw_body)
        key = request.headers.get("Idempotency-Key") if route.idempotent else None

        def run() -> flask.Response:
            result = route.handler(ctx, **kwargs)
            return to_response(result, schema=route.response, status=route.status)

        # A GET only reads (the server refuses a write: common.db.reading_only), in one
        # round trip per statement.
        reads_only = route.method == "GET"
        if key is None:
            return self._transaction(ctx, run, reads_only=reads_only)
        return self._transaction(ctx, lambda: once(ctx, key, raw_body, run), reads_only=reads_only)

    @staticmethod
    def _after_commit(ctx: Ctx) -> None:
        """The work handlers left for after the commit; a failure there is logged, never
        turned into an error answer (what the request wrote is committed)."""
        for work in ctx._after_commit:
            try:
                work()
            except Exception as exc:
                log.error("post-commit work failed", extra={"error_type": type(exc).__name__})

    def _transaction(
        self, ctx: Ctx, run: Callable[[], flask.Response], *, reads_only: bool
    ) -> flask.Response:
        """`run()` in the request's one transaction: committed once after it returns (or when
        it raises an error that keeps its writes), rolled back otherwise, and run again after
        a serialization failure or deadlock (up to MAX_ATTEMPTS, with jitter), or once on a
        new connection after the connection broke before the commit (a reset the pool's
        liveness check could not see coming: nothing was committed, the server rolled it
        back). After the commit, the work registered with `ctx.after_commit` runs.
        `reads_only`: each statement is a read-only transaction of its own instead
        (`reading_only`), and the commit sends nothing."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ctx._session = None
            ctx._after_commit = []
            committing = False  # from here on a broken connection may have committed
            try:
                try:
                    with reading_only() if reads_only else contextlib.nullcontext():
                        result = run()
                except errors.ApiError as refusal:
                    if refusal.keep_writes and ctx._session is not None:
                        committing = True
                        ctx._session.commit()
                        self._after_commit(ctx)
                    raise
                committing = True
                if ctx._session is not None:
                    ctx._session.commit()
                self._after_commit(ctx)
                return result
            except Exception as exc:
                if attempt < MAX_ATTEMPTS and is_retryable(exc):
                    log.warning("transaction conflict, retrying", extra={"attempt": attempt})
                    time.sleep(random.uniform(0.005, 0.025) * attempt)  # noqa: S311 (jitter)
                    continue
                if attempt == 1 and not committing and is_lost_connection(exc):
                    log.warning("database connection lost, retrying", extra={"attempt": attempt})
                    continue
                raise
            finally:
                if ctx._session is not None:
                    ctx._session.close()  # rolls back whatever was not committed
        raise AssertionError("unreachable")
