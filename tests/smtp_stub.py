"""A mail server on loopback for the tests: aiosmtpd with STARTTLS and AUTH.

The production sending code (common/mail.py, smtplib) runs unchanged against it: the server
requires STARTTLS before MAIL (with a certificate for `localhost` from a CA made for this run,
which the code trusts through `SMTP_CA_FILE`) and AUTH after TLS, takes SMTPUTF8, and records
every message it accepts. Tests can stop it (an outage: connections are refused) and start it
again on the same port, script its answers to DATA (`451`, `554`, or `drop`: take the message
and close the connection without answering), and hold DATA until several senders are in it
at once.

Bounded: the server stops itself after `MAX_LIFETIME_S`, and `stop()` ends it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import secrets
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fcm_stub import _certificate, _pem_key
from tests.servers import free_port

HOST = "localhost"
SENDER = "Sealy <no-reply@sealy.test>"
MAX_LIFETIME_S = 1800.0
CODE = re.compile(r"\b[0-9]{8}\b")


@dataclass(frozen=True)
class Received:
    """One message the server accepted (or took before a scripted `drop`)."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool
    answered: bool  # False: taken, then the connection was closed without an answer

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def code(self) -> str:
        (code,) = CODE.findall(self.text)
        return str(code)


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)
    in_data: int = 0
    max_in_data: int = 0
    gate: int | None = None
    gate_timeout_s: float = 0.0
    gate_open: bool = False


class SmtpStub:
    def __init__(self, workdir: Path) -> None:
        # it logs every address, and a deprecation warning of its own at every AUTH
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        self.port = free_port()
        self.user = "sealy-test"
        self.password = secrets.token_urlsafe(16)
        self._cond = threading.Condition()
        self._state = _State()
        self._controller: Controller | None = None
        self._write_keys(workdir)
        self.start()
        self._stopper = threading.Timer(MAX_LIFETIME_S, self.stop)
        self._stopper.daemon = True
        self._stopper.start()

    def _write_keys(self, workdir: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("Sealy mail test CA", ca_key, "Sealy mail test CA", ca_key, ca=True)
        key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(HOST, key, "Sealy mail test CA", ca_key, ca=False, dns=HOST)
        self.ca_file = workdir / "mail-ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain, key_file = workdir / "mail.pem", workdir / "mail.key"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_text(_pem_key(key))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(chain, key_file)

    def env(self) -> dict[str, str]:
        """The settings that point the mail code at this server."""
        return {
            "SMTP_HOST": HOST,
            "SMTP_PORT": str(self.port),
            "SMTP_USER": self.user,
            "SMTP_PASSWORD": self.password,
            "SMTP_FROM": SENDER,
            "SMTP_CA_FILE": str(self.ca_file),
            "SMTP_TIMEOUT_S": "10",
        }

    # --- up and down ----------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._controller is not None:
                return
            controller = Controller(
                _Handler(self),
                hostname="127.0.0.1",
                port=self.port,
                tls_context=self.tls,
                require_starttls=True,
                authenticator=self._authenticate,
                auth_require_tls=True,
                enable_SMTPUTF8=True,
            )
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        """Stop listening: connections are refused until `start()`."""
        with self._cond:
            controller, self._controller = self._controller, None
            self._state.gate_open = True
            self._cond.notify_all()
        if controller is not None:
            controller.stop()

    def close(self) -> None:
        self._stopper.cancel()
        self.stop()

    # --- what tests set and read ----------------------------------------------------------

    def answer_next(self, *answers: str) -> None:
        """Answer the next DATA commands with these ("ok", "451", "554", "drop"), then ok."""
        with self._cond:
            self._state.answers = list(answers)

    def hold_until_in_data(self, count: int, timeout_s: float) -> None:
        """Hold every DATA until `count` senders are in DATA at once (or `timeout_s` passed)."""
        with self._cond:
            self._state.gate, self._state.gate_timeout_s = count, timeout_s
            self._state.gate_open = False

    @property
    def max_in_data(self) -> int:
        with self._cond:
            return self._state.max_in_data

    def reset(self) -> None:
        """Forget what was received and scripted (the server stays as it is)."""
        with self._cond:
            self._state = _State()

    def received(self, to: str | None = None) -> list[Received]:
        with self._cond:
            found = list(self._state.received)
        return [r for r in found if to is None or to.lower() in (t.lower() for t in r.rcpt_tos)]

    def wait_for(self, condition: Callable[[], bool], timeout_s: float = 10.0) -> bool:
        """Wait until `condition()` holds for what was received (True), or time ran out."""
        with self._cond:
            return self._cond.wait_for(condition, timeout=timeout_s)

    def mail_to(self, to: str, count: int = 1, timeout_s: float = 10.0) -> list[Received]:
        """The messages to `to`, once there are `count` of them (fails if they do not come)."""
        assert self.wait_for(lambda: len(self.received(to)) >= count, timeout_s), (
            f"{count} mail(s) expected, {len(self.received(to))} came"
        )
        return self.received(to)

    # --- called by the server ----------------------------------------------------------

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode() == self.user and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok)

    def _enter_data(self) -> str:
        with self._cond:
            state = self._state
            state.in_data += 1
            state.max_in_data = max(state.max_in_data, state.in_data)
            self._cond.notify_all()
            if state.gate is not None:
                self._cond.wait_for(
                    lambda: state.gate_open or state.in_data >= (state.gate or 0),
                    timeout=state.gate_timeout_s,
                )
                state.gate_open = True
                self._cond.notify_all()
            return state.answers.pop(0) if state.answers else "ok"

    def _leave_data(self, received: Received | None) -> None:
        with self._cond:
            self._state.in_data -= 1
            if received is not None:
                self._state.received.append(received)
            self._cond.notify_all()


class _Handler:
    def __init__(self, stub: SmtpStub) -> None:
        self.stub = stub

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await asyncio.to_thread(self.stub._enter_data)
        received = None
        if answer in ("ok", "drop"):
            received = Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=bytes(envelope.original_content or envelope.content),
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
                answered=answer == "ok",
            )
        self.stub._leave_data(received)
        if answer == "drop":
            server.transport.close()
            return "250 OK"  # never reaches the client: the connection is closed
        if answer == "ok":
            return "250 OK"
        return f"{answer} scripted by the test"
