"""One-time codes mailed for a password reset or an email verification (api-v1 §12).

- A code is `CODE_DIGITS` (8) decimal digits drawn with `secrets`, valid `CODE_TTL` (30
  minutes), at most `MAX_TRIES` (5) wrong tries, used once (common/db/recovery.py).
- It is stored only as `code_hash`: HMAC-SHA256 over the purpose and the digits, keyed by a
  key derived from `CODE_SECRET` (a secret of the functions, never in the database). Eight
  digits are only 10^8 values: an unkeyed SHA-256 of them, salted or not, falls to a brute
  force in about a second once the table leaks, and even argon2 (25 ms a guess here) would
  fall within the code's 30 minutes to a few thousand cores. Keyed, a leaked table says
  nothing without the secret. A check also costs microseconds, the same for a right and a
  wrong code, so no request's timing depends on it, and a flood of guesses costs no argon2
  work. The purpose is in the MAC: a verification code never passes as a reset code.
- Until its mail is sent, the code waits in the mail outbox *sealed*: AES-256-GCM under a
  second key derived from `CODE_SECRET`, bound to the outbox row's id (associated data), and
  wiped when the mail is finished (common/db/outbox.py). So the database never holds a usable
  code in the clear, and a sealed code cannot be moved to another row.

Dev and test without `CODE_SECRET` use `DEV_CODE_SECRET`; production refuses both the dev
value and its absence (common.config, common.mail.require_settings).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from typing import Final, Literal

from common.config import DEV_CODE_SECRET, get_settings

Purpose = Literal["password_reset", "email_verification"]

CODE_DIGITS: Final = 8
CODE_TTL: Final = timedelta(minutes=30)
MAX_TRIES: Final = 5  # wrong tries that end a code
_NONCE_BYTES: Final = 12


class CodeConfigError(RuntimeError):
    """This process has no code secret: a deployment error."""


def new_code() -> str:
    """A fresh code: CODE_DIGITS random decimal digits (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


@functools.cache
def _keys() -> tuple[bytes, bytes]:
    """(HMAC key of the stored hashes, AES key of the outbox seals), derived once."""
    settings = get_settings()
    if settings.code_secret is not None:
        secret = settings.code_secret.get_secret_value().encode("utf-8")
    elif settings.env != "prod":
        secret = DEV_CODE_SECRET.encode("utf-8")
    else:
        raise CodeConfigError("CODE_SECRET is required")

    def derive(label: bytes) -> bytes:
        return hmac.new(secret, b"sealy/" + label, hashlib.sha256).digest()

    return derive(b"code-hash"), derive(b"outbox-seal")


def code_hash(purpose: Purpose, code: str) -> bytes:
    """What is stored of a code, and what a presented code is compared with (32 bytes)."""
    message = f"{purpose}:{code}".encode("ascii", "replace")
    return hmac.new(_keys()[0], message, hashlib.sha256).digest()


def seal(code: str, *, mail_id: uuid.UUID) -> bytes:
    """The code encrypted for the outbox row `mail_id`: nonce + ciphertext and tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = secrets.token_bytes(_NONCE_BYTES)
    return nonce + AESGCM(_keys()[1]).encrypt(nonce, code.encode("ascii"), mail_id.bytes)


def unseal(sealed: bytes, *, mail_id: uuid.UUID) -> str:
    """The code sealed for `mail_id` (raises `cryptography`'s InvalidTag if tampered)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, body = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
    return AESGCM(_keys()[1]).decrypt(nonce, body, mail_id.bytes).decode("ascii")
