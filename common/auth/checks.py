"""Password checks with the login throttle, for the routes that take a password.

A refusal here (401, 403, 429) must keep the request's writes: the failure that was just
counted, the client address's failure. Raising would roll them back, so these helpers return
the error and the route answers with `refusal(ctx, error)`, a problem response after which the
pipeline commits as usual.
"""

from __future__ import annotations

import flask
from sqlalchemy.orm import Session

from common import errors
from common.db import accounts
from common.http import Ctx, problem_response


def refusal(ctx: Ctx, error: errors.ApiError) -> flask.Response:
    """`error` as a problem response that keeps this request's writes."""
    return problem_response(error, ctx.request_id)


def login_throttle(check: accounts.LoginCheck) -> errors.TooManyRequests | None:
    """429 when this attempt is over the email's or the client address's limit."""
    waits = []
    if check.email_attempts.failures > accounts.EMAIL_FAILURE_LIMIT:
        waits.append(check.email_attempts.retry_after)
    client = check.client_failures
    if client is not None and client.failures >= accounts.CLIENT_FAILURE_LIMIT:
        waits.append(client.retry_after)
    if not waits:
        return None
    return errors.TooManyRequests(max(waits), "Too many failed sign-ins; try again later.")


def registration_throttle(*, session: Session, client: str) -> errors.TooManyRequests | None:
    """429 when the client address has had too many registrations refused (email taken)."""
    refused = accounts.registration_refusals(session=session, client=client)
    if refused is None or refused.failures < accounts.REGISTRATION_REFUSAL_LIMIT:
        return None
    return errors.TooManyRequests(
        refused.retry_after,
        "Too many registrations were refused from this address; try again later.",
    )


def confirm_password(
    *, session: Session, credentials: accounts.Credentials, password: str
) -> errors.ApiError | None:
    """None when `password` is the signed-in user's; else 403, or 429 when their email has
    had too many failed checks (these count with failed logins)."""
    from common.auth.passwords import verify_password  # argon2: only routes that check pay

    if credentials.email is not None:
        attempts = accounts.count_password_attempt(session=session, email=credentials.email)
        if attempts.failures > accounts.EMAIL_FAILURE_LIMIT:
            return errors.TooManyRequests(
                attempts.retry_after, "Too many failed password checks; try again later."
            )
    if not verify_password(stored_hash=credentials.password_hash, password=password):
        return errors.Forbidden("The password is wrong.")
    return None
