"""Password checks with the login throttle, for the routes that take a password.

A refusal here (401, 403, 429) must keep the request's writes: the failure that was just
counted, the client address's failure. So these raise their error with `keeping_writes()`:
the pipeline commits the transaction, then answers the problem.
"""

from __future__ import annotations

from common import errors
from common.db import throttles
from common.db.accounts import LoginCheck, PasswordCheck
from common.db.engine import Session


def check_login_throttle(check: LoginCheck) -> None:
    """429 when this attempt is over the email's or the client address's limit."""
    waits = []
    if check.email_attempts.failures > throttles.EMAIL_FAILURE_LIMIT:
        waits.append(check.email_attempts.retry_after)
    client = check.client_failures
    if client is not None and client.failures >= throttles.CLIENT_FAILURE_LIMIT:
        waits.append(client.retry_after)
    if waits:
        raise errors.TooManyRequests(
            max(waits), "Too many failed sign-ins; try again later."
        ).keeping_writes()


def check_registration_throttle(*, session: Session, client: str) -> None:
    """429 when the client address has had too many registrations refused (email taken)."""
    refused = throttles.registration_refusals(session=session, client=client)
    if refused is not None and refused.failures >= throttles.REGISTRATION_REFUSAL_LIMIT:
        raise errors.TooManyRequests(
            refused.retry_after,
            "Too many registrations were refused from this address; try again later.",
        ).keeping_writes()


def confirm_password(check: PasswordCheck, password: str) -> None:
    """Returns when `password` is the signed-in user's; else 403, or 429 when their email has
    had too many failed checks (these count with failed logins; `check` counted this one)."""
    from common.auth.passwords import verify_password  # argon2: only routes that check pay

    if check.attempts is not None and check.attempts.failures > throttles.EMAIL_FAILURE_LIMIT:
        raise errors.TooManyRequests(
            check.attempts.retry_after, "Too many failed password checks; try again later."
        ).keeping_writes()
    if not verify_password(stored_hash=check.password_hash, password=password):
        raise errors.Forbidden("The password is wrong.").keeping_writes()
