"""Stand-ins for Google's and Apple's key endpoints, and ID tokens signed with test keys.

Each stand-in is a real HTTP server on loopback (`http.server` in a thread) serving a key set
(JWKS) with a `Cache-Control` header and counting the fetches it answers, so the production
code (common.auth.providers) fetches, parses and caches exactly as it would from
https://www.googleapis.com/oauth2/v3/certs or https://appleid.apple.com/auth/keys.
`start_stand_ins()` runs in `pytest_configure`, before any function reads its settings:
`GOOGLE_JWKS_URL` / `APPLE_JWKS_URL` point at the stand-ins, `GOOGLE_CLIENT_IDS` /
`APPLE_CLIENT_IDS` name the test apps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

GOOGLE_CLIENT_IDS = (
    "sealy-android.apps.googleusercontent.com",
    "sealy-ios.apps.googleusercontent.com",
)
APPLE_CLIENT_IDS = ("dev.sealy.app", "dev.sealy.web")


@dataclass(frozen=True)
class RsaKey:
    """A test RSA key and its kid; `jwk` is its public half as a JWKS entry."""

    kid: str
    private_key: rsa.RSAPrivateKey

    @staticmethod
    def new(kid: str | None = None) -> RsaKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return RsaKey(kid or f"test-{secrets.token_hex(6)}", key)

    @property
    def jwk(self) -> dict[str, Any]:
        entry: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        return {**entry, "kid": self.kid, "alg": "RS256", "use": "sig"}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class KeyServer:
    """A JWKS endpoint on 127.0.0.1: what it serves is set by the tests; `fetches` counts."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.keys: list[dict[str, Any]] = []
        self.cache_control: str | None = "public, max-age=21600, must-revalidate, no-transform"
        self.age: str | None = None
        self.status = 200
        self.raw: bytes | None = None  # a body to send instead of the key set
        self.location: str | None = None  # a redirect's target
        self.fetches = 0
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}{self.path}"

    def serve(
        self,
        keys: list[dict[str, Any]],
        *,
        cache_control: str | None = "public, max-age=21600, must-revalidate, no-transform",
        age: str | None = None,
        status: int = 200,
        raw: bytes | None = None,
        location: str | None = None,
    ) -> None:
        with self._lock:
            self.keys, self.cache_control, self.age, self.status = keys, cache_control, age, status
            self.raw, self.location = raw, location

    def start(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with owner._lock:
                    owner.fetches += 1
                    status, keys = owner.status, owner.keys
                    cache_control, age = owner.cache_control, owner.age
                    raw, location = owner.raw, owner.location
                if self.path != owner.path:
                    status = 404
                body = json.dumps({"keys": keys}).encode() if status == 200 else b"{}"
                self.send_response(status)
                if location is not None:
                    self.send_header("Location", location)
                body = raw if raw is not None else body
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                if cache_control is not None:
                    self.send_header("Cache-Control", cache_control)
                if age is not None:
                    self.send_header("Age", age)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS put together by hand (for `alg: none` and other forgeries)."""
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    return head + "." + _b64(signature)


def hs256_token(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """HS256 with `secret` as the HMAC key: the classic confusion attack when `secret` is
    the verifier's RSA public key."""
    head = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
    mac = hmac.new(secret, head.encode("ascii"), hashlib.sha256).digest()
    return head + "." + _b64(mac)


@dataclass
class StandIn:
    """One provider as the tests play it: its key endpoint, its current key, its tokens."""

    name: str
    issuer: str
    client_ids: tuple[str, ...]
    server: KeyServer
    key: RsaKey = field(default_factory=RsaKey.new)

    def reset(self) -> None:
        """Serve the base key set again (each test that changes the endpoint restores it)."""
        self.server.serve([self.key.jwk])

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """The claims of a valid ID token of a new user of this provider; `None` removes."""
        now = int(time.time())
        subject = str(secrets.randbelow(10**20)).rjust(21, "1")
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_ids[0],
            "sub": subject,
            "iat": now,
            "exp": now + 3600 if self.name == "google" else now + 600,
            "email": f"{self.name}-{secrets.token_hex(6)}@example.com",
            "email_verified": True if self.name == "google" else "true",
        }
        if self.name == "google":
            claims["name"] = "Ada Lovelace"
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: RsaKey | None = None,
        kid: str | None = None,
        algorithm: str = "RS256",
    ) -> str:
        key = key or self.key
        return jwt.encode(
            claims, key.private_key, algorithm=algorithm, headers={"kid": kid or key.kid}
        )

    def token(self, **overrides: Any) -> str:
        """A valid ID token (claims as `claims(**overrides)`)."""
        return self.sign(self.claims(**overrides))


def nonce_pair() -> tuple[str, str]:
    """A raw nonce and the SHA-256 hex digest a client would give Apple."""
    nonce = secrets.token_urlsafe(16)
    return nonce, hashlib.sha256(nonce.encode()).hexdigest()


GOOGLE = StandIn(
    "google", "https://accounts.google.com", GOOGLE_CLIENT_IDS, KeyServer("/oauth2/v3/certs")
)
APPLE = StandIn("apple", "https://appleid.apple.com", APPLE_CLIENT_IDS, KeyServer("/auth/keys"))


def start_stand_ins() -> None:
    """Start both endpoints and point this process's settings (and its children's) at them."""
    for stand_in in (GOOGLE, APPLE):
        stand_in.server.start()
        stand_in.reset()
    os.environ["GOOGLE_JWKS_URL"] = GOOGLE.server.url
    os.environ["APPLE_JWKS_URL"] = APPLE.server.url
    os.environ["GOOGLE_CLIENT_IDS"] = ",".join(GOOGLE_CLIENT_IDS)
    os.environ["APPLE_CLIENT_IDS"] = ",".join(APPLE_CLIENT_IDS)


def stop_stand_ins() -> None:
    for stand_in in (GOOGLE, APPLE):
        stand_in.server.stop()
