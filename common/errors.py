"""Typed API errors: handlers raise these; `common.http` turns them into RFC 9457 problems.

Each subclass carries its status; the title is the status's standard phrase and the
`type` is `about:blank` (RFC 9457 §4.2.1), so `detail` says what happened this time.

An error normally rolls the request's transaction back. One raised with `keep_writes=True`
is answered after the transaction commits: a refused sign-in keeps the failure it counted
(common.auth.checks).
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Self


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ApiError(Exception):
    status: int = 500
    default_detail: str = "The request could not be completed."
    keep_writes: bool = False  # commit the request's writes, then answer this problem

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.detail)

    def keeping_writes(self) -> Self:
        """This error, answered after the request's writes are committed."""
        self.keep_writes = True
        return self

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class BadRequest(ApiError):
    status = 400
    default_detail = "The request is malformed."


class Unauthorized(ApiError):
    """401. `error` fills `WWW-Authenticate` (RFC 6750): None when no token was sent."""

    status = 401
    default_detail = "A valid access token is required."

    def __init__(self, detail: str | None = None, *, error: str | None = "invalid_token") -> None:
        challenge = "Bearer" if error is None else f'Bearer error="{error}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(ApiError):
    status = 403
    default_detail = "You may not do this."


class NotFound(ApiError):
    status = 404
    default_detail = "No such resource."


class MethodNotAllowed(ApiError):
    status = 405
    default_detail = "This method is not allowed here."

    def __init__(self, allowed: list[str]) -> None:
        super().__init__(headers={"Allow": ", ".join(sorted(allowed))})


class Conflict(ApiError):
    status = 409
    default_detail = "The request conflicts with the current state."


class Gone(ApiError):
    status = 410
    default_detail = "This is too old to be used any more."


class PreconditionFailed(ApiError):
    status = 412
    default_detail = "The resource has changed since you read it (If-Match)."


class PayloadTooLarge(ApiError):
    status = 413
    default_detail = "The request body is larger than 64 KiB."


class UnsupportedMediaType(ApiError):
    status = 415
    default_detail = "The request body must be application/json."


class ValidationFailed(ApiError):
    status = 422
    default_detail = "The request has invalid fields."

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        super().__init__(detail, errors=errors)


class TooManyRequests(ApiError):
    status = 429
    default_detail = "Too many requests; try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class ServiceUnavailable(ApiError):
    status = 503
    default_detail = "The service is temporarily unavailable; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after)})


class InternalError(ApiError):
    status = 500
    default_detail = "An unexpected error occurred. Quote the request id when reporting it."
