"""Firebase Cloud Messaging and the dispatch job that feeds it.

This is the only module that imports `firebase_admin`, and it does so inside functions: no
other function loads it, and `notifications` loads it only when it first has something to
send. The Firebase app is initialized once per process, with application default
credentials (the function's service account in production) and `FIREBASE_PROJECT_ID` as
the project when it is set (else the project of the credentials).

`dispatch` runs rounds of: fan out share events and due reminders into deliveries, claim a
batch (committed), send it with `messaging.send_each` while no transaction is open, record
the outcomes (committed). The queue's rules (claiming, leases, once per `remind_at`,
retries with backoff) are described in common/db/notifications.py.

Each dispatch also sends the mails left in the mail outbox (`common.mail.deliver`: first
attempts that failed, e.g. while the SMTP server was down). The answer's counts stay those of
the pushes (api-v1 §9); the mails' are logged. A mail failure never stops the pushes.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import RowMapping

from common import mail
from common.config import get_settings
from common.db import housekeeping, is_retryable, new_session
from common.db import notifications as db

log = logging.getLogger(__name__)

APP_NAME = "sealy"
# Rounds per dispatch call: at most MAX_ROUNDS * SEND_BATCH messages (5000) a minute, and
# at most 1 + 4 * MAX_ROUNDS statements. Whatever is left waits for the next call.
MAX_ROUNDS = 10
# No new round starts after this long. A round that started just before it can still take
# one HTTP timeout (FCM_TIMEOUT_S) per try, and firebase-admin's retry policy allows one
# connect retry, one read retry and four 500/503 retries (backoff 0.5 s doubling): ~77 s at
# worst, so 45 + 77 s can pass the function's 90 s timeout (functions.json) in the worst
# case, when FCM answers every try slowly (docs/deployment.md, what only the cloud shows).
ROUNDS_DEADLINE_S = 45.0
FCM_TIMEOUT_S = 10  # per HTTP request to FCM (firebase-admin's default is 120 s)
RECORD_ATTEMPTS = 3

_app_lock = threading.Lock()


def firebase_app() -> Any:
    """The process's Firebase app, initialized on first use."""
    import firebase_admin  # type: ignore[import-untyped]
    from firebase_admin import credentials

    with _app_lock:
        try:
            return firebase_admin.get_app(APP_NAME)
        except ValueError:  # not initialized yet
            project = get_settings().firebase_project_id
            options: dict[str, Any] = {"httpTimeout": FCM_TIMEOUT_S}
            if project:
                options["projectId"] = project
            return firebase_admin.initialize_app(
                credentials.ApplicationDefault(), options, name=APP_NAME
            )


# A Firebase installation ID: 22 URL-safe base64 characters. A registration token is longer
# and has a colon ("<FID>:APA91b...").
_FID = re.compile(r"[A-Za-z0-9_-]{22}")


def _target(token: str) -> dict[str, str]:
    """The message field that addresses this device.

    Devices register what their Firebase SDK gives them: a registration token (older SDKs)
    or, since FCM moved to installation IDs, a FID. FID-shaped values go as `fid`; the rest
    as `token`, which firebase-admin deprecates (a DeprecationWarning) but FCM still
    accepts."""
    return {"fid": token} if _FID.fullmatch(token) else {"token": token}


def _is_dead_token(exc: Exception) -> bool:
    """FCM will never deliver to this token: unregistered, malformed, or another project's.

    Our payloads are small and fixed in shape, so INVALID_ARGUMENT means the token."""
    from firebase_admin import exceptions, messaging

    return isinstance(
        exc,
        messaging.UnregisteredError
        | messaging.SenderIdMismatchError
        | exceptions.InvalidArgumentError,
    )


def _error_code(exc: Exception) -> str:
    # The canonical code and the SDK's class, never the message (it may quote the request).
    return f"{getattr(exc, 'code', 'UNKNOWN')} {type(exc).__name__}"


def send(claimed: Sequence[RowMapping]) -> list[db.Outcome]:
    """Send claimed deliveries (at most 500) with one `send_each`; one outcome per delivery."""
    from firebase_admin import messaging

    messages = [
        messaging.Message(
            **_target(row["token"]),
            notification=messaging.Notification(title=row["title"], body=row["body"]),
            data=dict(row["data"]),
        )
        for row in claimed
    ]
    try:
        answer = messaging.send_each(messages, app=firebase_app())
    except Exception as exc:  # no answer for any message (credentials, setup): retry them all
        log.warning("FCM batch failed", extra={"error_type": type(exc).__name__})
        return [
            db.Outcome(row["id"], row["device_id"], row["attempts"], "retry", _error_code(exc))
            for row in claimed
        ]
    outcomes = []
    for row, result in zip(claimed, answer.responses, strict=True):
        if result.success:
            outcomes.append(db.Outcome(row["id"], row["device_id"], row["attempts"], "sent"))
            continue
        error: Exception = result.exception
        outcomes.append(
            db.Outcome(
                row["id"],
                row["device_id"],
                row["attempts"],
                "prune" if _is_dead_token(error) else "retry",
                _error_code(error),
            )
        )
    return outcomes


def _record(outcomes: Sequence[db.Outcome]) -> int:
    """Record a sent batch, trying again after a deadlock or serialization failure: the
    messages are out, and an outcome left unrecorded would send them again after the lease."""
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        try:
            with new_session() as session, session.begin():
                return db.record_outcomes(session=session, outcomes=outcomes)
        except Exception as exc:
            if attempt == RECORD_ATTEMPTS or not is_retryable(exc):
                raise
            log.warning("recording outcomes conflicted, retrying", extra={"attempt": attempt})
    raise AssertionError("unreachable")


@dataclass
class DispatchTotals:
    sent: int = 0  # messages FCM accepted
    failed: int = 0  # messages it did not (retried later, given up, or to a pruned token)
    pruned: int = 0  # devices deleted because FCM called their token dead


def dispatch() -> DispatchTotals:
    """Send everything that is due, in bounded rounds; each message once across dispatches."""
    totals = DispatchTotals()
    deadline = time.monotonic() + ROUNDS_DEADLINE_S
    try:
        with new_session() as session, session.begin():
            housekeeping.purge(session=session)
    except Exception as exc:  # housekeeping must not hold up the pushes; the next run retries
        log.warning("housekeeping failed: %s", type(exc).__name__)
    try:
        mails = mail.deliver()
        log.info("dispatch: %d mails sent, %d not", mails.sent, mails.failed)
    except Exception as exc:  # the mails stay due for the next run
        log.warning("mail delivery failed: %s", type(exc).__name__)
    for _ in range(MAX_ROUNDS):
        with new_session() as session, session.begin():
            events = db.arm_share_events(session=session, limit=db.ARM_BATCH)
            todos = db.arm_reminders(session=session, limit=db.ARM_BATCH)
            claimed = db.claim_deliveries(session=session, limit=db.SEND_BATCH)
        if claimed:
            outcomes = send(claimed)
            totals.pruned += _record(outcomes)
            sent = sum(o.result == "sent" for o in outcomes)
            totals.sent += sent
            totals.failed += len(outcomes) - sent
        more = max(events, todos) >= db.ARM_BATCH or len(claimed) >= db.SEND_BATCH
        if not more or time.monotonic() > deadline:
            break
    log.info("dispatch: %d sent, %d failed, %d pruned", totals.sent, totals.failed, totals.pruned)
    return totals
