"""CORS for browsers: every function answers preflights and marks the responses that an
allowed origin may read.

Allowed origins are those listed in `CORS_ORIGINS` (comma-separated, exact match) and, under
`ENV=dev|test` only, any `http://localhost:<port>` or `http://127.0.0.1:<port>` (a developer's
web app). Credentials are never allowed: tokens travel in `Authorization`, never in cookies.
Any other origin gets no CORS header at all, so the browser keeps the response from it.

Decisions where the contract is silent:
- A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered `204`
  on any path of the function, before routing and without authentication (browsers send no
  `Authorization` on preflights); for an origin not allowed it is the same `204` without CORS
  headers. Any other `OPTIONS` is routed as usual (`405` with `Allow`).
- Every response says `Vary: Origin`, so a cache never serves one origin's answer to another.
"""

from __future__ import annotations

import functools
import re

import flask

from common.config import get_settings

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "Authorization, Content-Type, If-Match, Idempotency-Key, X-Request-Id"
EXPOSE_HEADERS = "ETag, Location, X-Request-Id, Retry-After, Idempotent-Replayed"
MAX_AGE = "600"
_LOCAL_ORIGIN = re.compile(r"http://(localhost|127\.0\.0\.1):[0-9]{1,5}")


def origin_allowed(origin: str, *, listed: frozenset[str], local: bool) -> bool:
    """Whether a browser page at `origin` may read our responses."""
    return origin in listed or (local and _LOCAL_ORIGIN.fullmatch(origin) is not None)


@functools.cache
def _policy() -> tuple[frozenset[str], bool]:
    settings = get_settings()
    return settings.cors_origin_set, settings.env in ("dev", "test")


def _allowed(request: flask.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin is None:
        return None
    listed, local = _policy()
    return origin if origin_allowed(origin, listed=listed, local=local) else None


def is_preflight(request: flask.Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "Origin" in request.headers
        and "Access-Control-Request-Method" in request.headers
    )


def preflight(request: flask.Request) -> flask.Response:
    """The answer to a preflight: what an allowed origin may send, for 10 minutes."""
    response = flask.Response(status=204)
    response.headers["Vary"] = (
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    )
    origin = _allowed(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = ALLOW_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOW_HEADERS
        response.headers["Access-Control-Max-Age"] = MAX_AGE
    return response


def mark(request: flask.Request, response: flask.Response) -> None:
    """Let an allowed origin read `response` (and the headers a client needs from it)."""
    response.vary.add("Origin")
    origin = _allowed(request)
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
