"""Mail: the messages that carry codes, and their delivery from the outbox.

Transport
---------
With `SMTP_HOST`: SMTP through the standard library's `smtplib`, to `SMTP_PORT` (587), with
STARTTLS unless `SMTP_STARTTLS=false` (refused in production: the mails carry codes), the
server's certificate checked against the system's CAs (or `SMTP_CA_FILE`) and its name, AUTH
when `SMTP_USER` is set (`SMTP_PASSWORD`), `SMTP_FROM` as the sender, `SMTP_TIMEOUT_S` for
every socket operation. An address with a non-ASCII local part goes with SMTPUTF8 (a server
without it refuses such a mail for good).
Without `SMTP_HOST` (dev and test only; production refuses to start, `require_settings`),
each mail is a file `<MAIL_DIR>/<kind>-<mail id>.eml` (default `.sealy/mail/`), the code in
its plain-text body: `make dev` needs no mail server.

Delivery
--------
The outbox's rules (claiming right before DATA, retries, never twice) are in
common/db/outbox.py. A request that queued a mail calls `send_soon` after its commit (the
pipeline's post-commit hook): a background thread of the process sends it within moments,
after the response has gone, so the response's time does not depend on whether a mail was
queued or on the mail server. `deliver()` (every dispatch, common.push) sends what is left:
mails whose first attempt failed (server down) or whose process went away first.
Production note (docs/deployment.md): the thread needs CPU after the response; where the
platform throttles it, the mail goes at the next dispatch.

Logs carry no address and no code: mail ids, SMTP reply codes and exception class names only
(smtplib's exceptions can quote recipients, so they are never logged as text).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from sqlalchemy.engine import RowMapping

from common.auth import codes
from common.config import Settings, get_settings
from common.db import new_session
from common.db import outbox as db
from common.db.engine import Session

if TYPE_CHECKING:  # the email package costs ~7 ms of import: loaded when a mail is built
    import smtplib
    from email.message import EmailMessage

log = logging.getLogger(__name__)

BATCH: Final = 50  # mails per delivery run (dispatch: per call)
DEV_SENDER: Final = "Sealy <no-reply@sealy.localhost>"
LIFETIME_MINUTES: Final = int(codes.CODE_TTL.total_seconds() // 60)

SUBJECTS: Final = {
    "password_reset": "Your Sealy password reset code",
    "email_verification": "Your Sealy email verification code",
}
_BODIES: Final = {  # lines under 78 characters: sent as plain 7-bit text, no line folding
    "password_reset": (
        "Your code to reset your Sealy password is:\n\n    {code}\n\n"
        "It works once, for {minutes} minutes.\n"
        "If you did not ask to reset your password, ignore this mail:\n"
        "your password stays as it is.\n"
    ),
    "email_verification": (
        "Your code to verify this email address for Sealy is:\n\n    {code}\n\n"
        "It works once, for {minutes} minutes.\n"
        "If you did not ask for it, ignore this mail.\n"
    ),
}


class MailConfigError(RuntimeError):
    """This function sends mail but lacks a setting it needs in production."""


def require_settings(settings: Settings | None = None) -> None:
    """Refuse a production cold start of a function that sends mail without its settings."""
    settings = settings or get_settings()
    if settings.env != "prod":
        return
    missing = [
        name
        for name, value in (
            ("SMTP_HOST", settings.smtp_host),
            ("SMTP_FROM", settings.smtp_from),
            ("CODE_SECRET", settings.code_secret),
        )
        if not value
    ]
    if missing:
        raise MailConfigError("refusing to start: mail needs " + ", ".join(missing))


def sender(settings: Settings) -> str:
    return settings.smtp_from or DEV_SENDER


def build_message(
    *, mail_id: uuid.UUID, kind: str, recipient: str, code: str, sender: str
) -> EmailMessage:
    """The mail: sender, recipient, subject, a plain-text body with the code; nothing else."""
    from email.message import EmailMessage
    from email.utils import formatdate, parseaddr

    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = SUBJECTS[kind]
    message["Date"] = formatdate(usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "sealy.localhost"
    message["Message-ID"] = f"<{mail_id}@{domain}>"  # the same for every attempt at it
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(_BODIES[kind].format(code=code, minutes=LIFETIME_MINUTES))
    return message


# --- transports ---------------------------------------------------------------------------


class Refused(Exception):
    """The server refused (a 4xx: `temporary`, a 5xx: for good); nothing was delivered."""

    def __init__(self, code: int) -> None:
        super().__init__(f"SMTP {code}")
        self.code = code
        self.temporary = 400 <= code < 500


class OutcomeUnknown(Exception):
    """The message was sent but no answer came: the server may have accepted it."""


class Transport(Protocol):
    def prepare(self, recipient: str) -> None:
        """MAIL FROM and RCPT TO (raises Refused, or a connection error: nothing sent)."""

    def send(self, mail_id: uuid.UUID, kind: str, message: EmailMessage) -> None:
        """DATA: returns once accepted; raises Refused, or OutcomeUnknown."""

    def reset(self) -> None: ...

    def close(self) -> None: ...


_CRLF = b"\r\n"
_LINE_START_DOT = re.compile(rb"(?m)^\.")


def _needs_utf8(address: str) -> bool:
    return not address.isascii()


class SmtpTransport:
    """One SMTP session: connected, STARTTLS, AUTH, then any number of mails."""

    def __init__(self, settings: Settings) -> None:
        import smtplib
        import ssl

        assert settings.smtp_host is not None
        self.sender = sender(settings)
        self.smtp: smtplib.SMTP = smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
        )
        try:
            self.smtp.ehlo()
            if settings.smtp_starttls:
                context = ssl.create_default_context(cafile=settings.smtp_ca_file)
                self.smtp.starttls(context=context)
                self.smtp.ehlo()
            if settings.smtp_user:
                password = settings.smtp_password
                self.smtp.login(settings.smtp_user, password.get_secret_value() if password else "")
        except BaseException:
            self.close()
            raise

    def prepare(self, recipient: str) -> None:
        from email.utils import parseaddr

        utf8 = _needs_utf8(recipient) or _needs_utf8(self.sender)
        if utf8 and not self.smtp.has_extn("smtputf8"):
            raise Refused(553)  # the server cannot take this address at all
        options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
        code, _ = self.smtp.mail(parseaddr(self.sender)[1], options)
        if code != 250:
            self.reset()
            raise Refused(code)
        code, _ = self.smtp.rcpt(recipient)
        if code not in (250, 251):
            self.reset()
            raise Refused(code)

    def send(self, mail_id: uuid.UUID, kind: str, message: EmailMessage) -> None:
        import email.policy

        utf8 = _needs_utf8(str(message["To"])) or _needs_utf8(self.sender)
        data = message.as_bytes(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
        # DATA in two steps, so that a failure before the server said 354 (nothing sent) is
        # told apart from one after the message went (the server may have taken it).
        self.smtp.putcmd("data")
        code, _ = self.smtp.getreply()
        if code != 354:
            raise Refused(code)
        body = _LINE_START_DOT.sub(b"..", data)
        if not body.endswith(_CRLF):
            body += _CRLF
        try:
            self.smtp.send(body + b"." + _CRLF)
            code, _ = self.smtp.getreply()
        except OSError as exc:  # smtplib's disconnects are OSErrors too
            raise OutcomeUnknown(type(exc).__name__) from None
        if code != 250:
            raise Refused(code)

    def reset(self) -> None:
        self.smtp.rset()

    def close(self) -> None:
        try:
            self.smtp.quit()
        except Exception:  # already gone: nothing to tidy
            self.smtp.close()


class FolderTransport:
    """Dev and test without SMTP_HOST: each mail a file named by its id (a mail written again
    would replace its file, never add a second)."""

    def __init__(self, settings: Settings) -> None:
        self.folder = Path(settings.mail_dir)
        self.folder.mkdir(parents=True, exist_ok=True)

    def prepare(self, recipient: str) -> None:
        pass

    def send(self, mail_id: uuid.UUID, kind: str, message: EmailMessage) -> None:
        import email.policy

        target = self.folder / f"{kind}-{mail_id}.eml"
        partial = target.with_suffix(".partial")
        partial.write_bytes(message.as_bytes(policy=email.policy.SMTPUTF8))
        os.replace(partial, target)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


def open_transport(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    if settings.env == "prod":  # require_settings stops this at cold start already
        raise MailConfigError("SMTP_HOST is required")
    return FolderTransport(settings)


# --- delivery -----------------------------------------------------------------------------


@dataclass
class Totals:
    sent: int = 0
    failed: int = 0  # attempts that did not deliver (retried later, or given up)


def _in_transaction[T](work: Callable[[Session], T]) -> T:
    with new_session() as session, session.begin():
        return work(session)


def _defer(ids: list[uuid.UUID], error: str) -> None:
    _in_transaction(lambda s: db.defer_mails(session=s, ids=ids, error=error))


def _record(mail_id: uuid.UUID, outcome: db.Outcome, error: str | None) -> None:
    _in_transaction(
        lambda s: db.record_mail(session=s, mail_id=mail_id, outcome=outcome, error=error)
    )


def _error(exc: BaseException) -> str:
    # The class and an SMTP code, never the message (it can quote the recipient).
    code = getattr(exc, "code", None) or getattr(exc, "smtp_code", None)
    return f"{type(exc).__name__} {code}" if code else type(exc).__name__


def _deliver_one(transport: Transport, row: RowMapping, settings: Settings, totals: Totals) -> None:
    """One due mail on an open transport. Connection errors before the hand-over propagate
    (the caller defers what is left); after it, every outcome is recorded here."""
    mail_id: uuid.UUID = row["id"]
    try:
        transport.prepare(row["recipient"])
    except Refused as refused:
        totals.failed += 1
        reason = _error(refused)
        if refused.temporary:
            _defer([mail_id], reason)
        else:
            _in_transaction(lambda s: db.fail_mail(session=s, mail_id=mail_id, error=reason))
        log.warning("mail %s refused: SMTP %d", mail_id, refused.code)
        return
    claimed = _in_transaction(lambda s: db.hand_over(session=s, mail_id=mail_id))
    if claimed is None:  # another sender has it
        transport.reset()
        return
    try:
        code = codes.unseal(claimed["sealed_code"], mail_id=mail_id)
    except Exception as exc:  # sealed under another CODE_SECRET (rotated), or tampered with
        transport.reset()
        _record(mail_id, "failed", _error(exc))
        totals.failed += 1
        log.error("mail %s: its code cannot be unsealed", mail_id)
        return
    message = build_message(
        mail_id=mail_id,
        kind=claimed["kind"],
        recipient=claimed["recipient"],
        code=code,
        sender=sender(settings),
    )
    outcome: db.Outcome = "sent"
    error: str | None = None
    broken = False
    try:
        transport.send(mail_id, claimed["kind"], message)
    except Refused as refused:  # the server answered: the session goes on
        outcome, error = ("retry" if refused.temporary else "failed"), _error(refused)
    except OutcomeUnknown:
        outcome, error, broken = "failed", db.UNKNOWN, True
    except Exception as exc:  # before the message went out (the connection broke at DATA)
        outcome, error, broken = "retry", _error(exc), True
    _record(mail_id, outcome, error)
    if outcome == "sent":
        totals.sent += 1
        log.info("mail %s sent", mail_id)
        return
    totals.failed += 1
    log.warning("mail %s not sent (%s)", mail_id, outcome, extra={"error_type": error})
    if broken:
        raise _Broken  # this connection cannot be trusted with another mail


class _Broken(Exception):
    """The SMTP session is no longer usable; the mails left stay due."""


def deliver(*, ids: Sequence[uuid.UUID] | None = None, limit: int = BATCH) -> Totals:
    """Send the due mails (those of `ids`; or any, after closing what no sender will finish:
    dispatch's part), each at most once across senders."""
    settings = get_settings()
    totals = Totals()
    rows = _in_transaction(
        lambda s: db.due_mails(session=s, limit=limit, ids=ids, close=ids is None)
    )
    if not rows:
        return totals
    try:
        transport = open_transport(settings)
    except Exception as exc:  # no server, TLS or AUTH failure: nothing was sent
        log.warning("mail server unavailable", extra={"error_type": _error(exc)})
        _defer([r["id"] for r in rows], _error(exc))
        totals.failed += len(rows)
        return totals
    try:
        for index, row in enumerate(rows):
            try:
                _deliver_one(transport, row, settings, totals)
            except _Broken:
                break
            except Exception as exc:  # the connection broke before a hand-over
                left = [r["id"] for r in rows[index:]]
                _defer(left, _error(exc))
                totals.failed += len(left)
                log.warning("mail server went away", extra={"error_type": _error(exc)})
                break
    finally:
        transport.close()
    return totals


# --- the background sender ----------------------------------------------------------------

_waiting: queue.SimpleQueue[uuid.UUID] = queue.SimpleQueue()
_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


def send_soon(mail_id: uuid.UUID) -> None:
    """Send this queued (and committed) mail from the background sender thread."""
    global _worker
    _waiting.put(mail_id)
    with _worker_lock:
        if _worker is None or not _worker.is_alive():
            _worker = threading.Thread(target=_work, name="mail-sender", daemon=True)
            _worker.start()


def _work() -> None:
    while True:
        ids = [_waiting.get()]
        while len(ids) < BATCH:
            try:
                ids.append(_waiting.get_nowait())
            except queue.Empty:
                break
        try:
            deliver(ids=ids)
        except Exception as exc:  # the database: the mails stay due for dispatch
            log.error("mail delivery failed", extra={"error_type": _error(exc)})
