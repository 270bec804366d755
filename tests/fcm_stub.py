"""Google at the HTTP boundary, on loopback: FCM v1, the OAuth2 token endpoint, OIDC certs.

The Firebase Admin SDK runs unchanged, from `credentials.ApplicationDefault()` to
`messaging.send_each` and its error parsing; only the network under it is redirected:
- `GOOGLE_APPLICATION_CREDENTIALS` names a service-account key made for this run whose
  `token_uri` is this server, so the SDK's real OAuth2 flow (a signed JWT grant) gets its
  access token here.
- `HTTPS_PROXY` is this server. The SDK's requests session asks it to `CONNECT
  fcm.googleapis.com:443` (any other host is refused); the server terminates TLS with a
  certificate for that name from a CA made for this run (`REQUESTS_CA_BUNDLE`), and answers
  `POST /v1/projects/<project>/messages:send` as FCM does: `{"name": ...}`, or FCM's error
  bodies (`{"error": {"status": ..., "details": [{"@type": ...FcmError, "errorCode": ...}]}}`).
- `GET /certs` serves whatever key set a test puts in `certs` (Google's x509 format).

Bounded: every connection has a socket timeout, the server stops itself after
`MAX_LIFETIME_S`, and `stop()` ends it when the tests are done.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

FCM_HOST = "fcm.googleapis.com"
PROJECT_ID = "sealy-test"
ACCESS_TOKEN = "stub-access-token"
MAX_LIFETIME_S = 600.0
SOCKET_TIMEOUT_S = 30.0
_SEND_PATH = re.compile(r"/v1/projects/([^/]+)/messages:send")
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"

# FCM's answers by name: HTTP status, canonical status, FCM error code.
ERRORS: dict[str, tuple[int, str, str]] = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "SENDER_ID_MISMATCH": (403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL", "INTERNAL"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
}


@dataclass(frozen=True)
class Sent:
    """One `messages:send` request as FCM received it."""

    project: str
    authorization: str | None
    message: dict[str, Any]
    answer: str  # "ok" or an ERRORS name

    @property
    def token(self) -> str:
        """The target: a registration token (`token`) or an installation id (`fid`)."""
        return str(self.message.get("token") or self.message.get("fid"))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: Any, issuer: str, issuer_key: Any, *, ca: bool, dns: str | None = None
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=ca,
                crl_sign=ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if dns is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem_key(key: Any) -> str:
    return str(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )


def self_signed_rsa(common_name: str) -> tuple[rsa.RSAPrivateKey, str]:
    """An RSA key and a self-signed x509 certificate (PEM) for it: a Google-style signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = _certificate(common_name, key, common_name, key, ca=False)
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class _State:
    sent: list[Sent] = field(default_factory=list)
    scripts: dict[str, list[str]] = field(default_factory=dict)
    token_grants: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    gate: int | None = None
    gate_timeout_s: float = 0.0
    gate_open: bool = False


class GoogleStub:
    """The stand-in server. Start with `GoogleStub(workdir)`, read `env()`, call `stop()`."""

    def __init__(self, workdir: Path) -> None:
        self.project_id = PROJECT_ID
        self.certs: dict[str, str] = {}
        self._state = _State()
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.stub = self  # type: ignore[attr-defined]
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._write_keys(workdir)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="google-stub", daemon=True
        )
        self._thread.start()
        self._stopper = threading.Timer(MAX_LIFETIME_S, self.stop)
        self._stopper.daemon = True
        self._stopper.start()
        self._stopped = False

    def _write_keys(self, workdir: Path) -> None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("Sealy test CA", ca_key, "Sealy test CA", ca_key, ca=True)
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        leaf = _certificate(FCM_HOST, leaf_key, "Sealy test CA", ca_key, ca=False, dns=FCM_HOST)
        self.ca_file = workdir / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        chain, key_file = workdir / "fcm.pem", workdir / "fcm.key"
        chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
        key_file.write_text(_pem_key(leaf_key))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(chain, key_file)
        account_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.credentials_file = workdir / "service-account.json"
        self.credentials_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": PROJECT_ID,
                    "private_key_id": "stub-key-1",
                    "private_key": _pem_key(account_key),
                    "client_email": f"firebase-adminsdk@{PROJECT_ID}.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": f"{self.url}/token",
                }
            )
        )

    def env(self) -> dict[str, str]:
        """The environment that points the SDK (and google-auth) at this server."""
        local = "127.0.0.1,localhost"
        return {
            "GOOGLE_APPLICATION_CREDENTIALS": str(self.credentials_file),
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "NO_PROXY": local,
            "no_proxy": local,
            "REQUESTS_CA_BUNDLE": str(self.ca_file),
        }

    # --- what tests set and read ---------------------------------------------------

    def script(self, token: str, *answers: str) -> None:
        """Answer the next requests for `token` with these (ERRORS names or "ok"), then ok."""
        unknown = set(answers) - set(ERRORS) - {"ok"}
        assert not unknown, unknown
        with self._cond:
            self._state.scripts[token] = list(answers)

    def hold_until_in_flight(self, count: int, timeout_s: float) -> None:
        """Hold every send until `count` are in flight at once (or `timeout_s` passed)."""
        with self._cond:
            self._state.gate, self._state.gate_timeout_s = count, timeout_s
            self._state.gate_open = False

    @property
    def max_in_flight(self) -> int:
        with self._cond:
            return self._state.max_in_flight

    @property
    def token_grants(self) -> int:
        with self._cond:
            return self._state.token_grants

    def sent(self, tokens: Iterator[str] | set[str] | list[str] | None = None) -> list[Sent]:
        """Requests received, optionally only those to `tokens`."""
        with self._cond:
            found = list(self._state.sent)
        if tokens is None:
            return found
        wanted = set(tokens)
        return [s for s in found if s.token in wanted]

    def reset(self) -> None:
        with self._cond:
            self._state = _State()

    def stop(self) -> None:
        with self._cond:
            if self._stopped:
                return
            self._stopped = True
            self._state.gate_open = True
            self._cond.notify_all()
        self._stopper.cancel()
        self._server.shutdown()
        self._server.server_close()

    # --- called by the handler ---------------------------------------------------------

    def _answer_send(self, project: str, authorization: str | None, body: Any) -> tuple[int, Any]:
        message = body.get("message", {}) if isinstance(body, dict) else {}
        token = str(message.get("token") or message.get("fid"))
        with self._cond:
            state = self._state
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            self._cond.notify_all()
            try:
                if state.gate is not None:
                    self._cond.wait_for(
                        lambda: state.gate_open or state.in_flight >= (state.gate or 0),
                        timeout=state.gate_timeout_s,
                    )
                    state.gate_open = True
                    self._cond.notify_all()
                queue = state.scripts.get(token, [])
                answer = queue.pop(0) if queue else "ok"
                state.sent.append(Sent(project, authorization, message, answer))
                number = len(state.sent)
            finally:
                state.in_flight -= 1
        if authorization != f"Bearer {ACCESS_TOKEN}":
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}}
        if answer == "ok":
            return 200, {"name": f"projects/{project}/messages/{number}"}
        status, canonical, code = ERRORS[answer]
        return status, {
            "error": {
                "code": status,
                "message": f"stub: {code}",
                "status": canonical,
                "details": [{"@type": _FCM_ERROR, "errorCode": code}],
            }
        }

    def _grant_token(self) -> tuple[int, Any]:
        with self._cond:
            self._state.token_grants += 1
        return 200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    tunneled = False

    @property
    def stub(self) -> GoogleStub:
        return self.server.stub  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_CONNECT(self) -> None:
        if self.tunneled or self.path != f"{FCM_HOST}:443":
            self._reply(403, {"error": "only fcm.googleapis.com:443"})
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        tls = self.stub.tls.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = tls.makefile("wb")
        self.tunneled = True
        self.close_connection = False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        sending = _SEND_PATH.fullmatch(self.path)
        if self.tunneled and sending:
            try:
                body = json.loads(raw)
            except ValueError:
                self._reply(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}})
                return
            auth = self.headers.get("Authorization")
            self._reply(*self.stub._answer_send(sending.group(1), auth, body))
        elif not self.tunneled and self.path == "/token":
            self._reply(*self.stub._grant_token())
        else:
            self._reply(404, {"error": "no such route"})

    def do_GET(self) -> None:
        if not self.tunneled and self.path == "/certs":
            self._reply(200, dict(self.stub.certs))
        else:
            self._reply(404, {"error": "no such route"})

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self.tunneled:
                self.connection.close()
