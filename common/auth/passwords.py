"""Password hashing (argon2id) and the password policy.

Hashing
-------
argon2id through argon2-cffi with m = 19 MiB, t = 2, p = 1: OWASP's first
recommended configuration (Password Storage Cheat Sheet), chosen against the
functions that verify passwords:

- memory: the `auth` function has 512 MiB and serves 8 requests at once
  (functions.json); argon2-cffi releases the GIL, so eight hashes really do run
  at once. Measured here: 114 MiB resident with the function's libraries
  loaded, 266 MiB peak during eight concurrent verifications (8 x 19 MiB).
  OWASP's equivalent m = 46 MiB, t = 1 would peak near 482 MiB, too close to
  the limit; argon2-cffi's default (m = 64 MiB, t = 3, p = 4) would exceed it.
  The `users` function (256 MiB, 8 threads) also verifies, for account
  deletion: eight at once would not fit there, hence `MAX_CONCURRENT_HASHES`.
- CPU: one vCPU, so p = 1 (more lanes cannot run in parallel) and concurrent
  logins take turns: ~27-30 ms each here (scripts/bench_argon2.py), about
  0.25 s for the eighth of eight at once. t = 3 would add ~45% to every login.

Raising the parameters later is safe: `needs_rehash` turns true for old hashes
and the login route re-hashes them after a successful login.

Passwords are normalised to Unicode NFKC before hashing and verifying (NIST SP
800-63B 5.1.1.2): the same password typed on two keyboards that produce
different code point sequences (precomposed "é" or "e" + combining accent)
still matches. They are never truncated or otherwise changed.

Unknown users
-------------
`verify_password(stored_hash=None, ...)` verifies against `DUMMY_HASH`, a hash
of a random, discarded secret made with the same parameters, and returns False,
so an unknown email costs the same argon2 work as a wrong password. Every
verification, real or dummy, goes through `_argon2_verify`; tests observe the
dummy path by wrapping that function (it is looked up at call time).

Policy
------
`password_problems` allows 8 to 256 characters, counted as Unicode code points
of the password as sent. It refuses the 10 000 most common passwords, compared
after NFKC, case-insensitively (`str.lower`, as the list is lower-cased) and
ignoring surrounding whitespace: "Password", "PASSWORD" and "password " are the
same guess to an attacker's rules engine. Only 3 903 entries of the list have
8 characters or more, so in practice that is the part that can match.

The list, `common_passwords.txt` (one password per line, most frequent first),
is the first 10 000 lines of `django/contrib/auth/common-passwords.txt.gz` from
Django 5.2.19 (BSD-3-Clause; see README.md in this package for provenance and
the licence text). It is read on first use and cached.
"""

from __future__ import annotations

import functools
import logging
import secrets
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from typing import Final

from argon2 import Parameters, PasswordHasher, Type
from argon2.exceptions import VerificationError

logger = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH: Final = 8
MAX_PASSWORD_LENGTH: Final = 256
COMMON_PASSWORDS_FILE: Final = "common_passwords.txt"

ARGON2_PARAMETERS: Final = Parameters(
    type=Type.ID,
    version=19,  # Argon2 1.3, the current version
    memory_cost=19 * 1024,  # KiB: 19 MiB, see the module docstring for the budget
    time_cost=2,  # OWASP's minimum for m = 19 MiB
    parallelism=1,  # one vCPU: more lanes would only take turns
    hash_len=32,
    salt_len=16,
)
_HASHER: Final = PasswordHasher.from_parameters(ARGON2_PARAMETERS)
# argon2 runs on a pool of this many threads, not on the request threads. On one
# vCPU more could not finish sooner (they share the core), and each computation
# takes 19 MiB from its thread's malloc arena, where glibc keeps it after free:
# run on all 8 request threads, argon2 would leave 8 x 19 MiB resident for good
# (measured), more than the 256 MiB `users` function can spare. Two threads keep
# the core busy and hold at most 38 MiB; a queued login waits for the CPU either
# way. Raise it with the functions' CPU count. Threads start on first use.
MAX_CONCURRENT_HASHES: Final = 2
_ARGON2_POOL: Final = ThreadPoolExecutor(
    max_workers=MAX_CONCURRENT_HASHES, thread_name_prefix="argon2"
)

# A hash of a random secret that was thrown away, made with the parameters above.
# A literal rather than computed at import, which would cost a full hash (~28 ms)
# on every cold start; the check below (a string parse) recomputes it if the
# parameters ever change without this line, and a unit test fails in that case.
DUMMY_HASH: str = (
    "$argon2id$v=19$m=19456,t=2,p=1$KWyHfQRHpyYMGO2A+qVgaw"
    "$SiziL+jUEgeMRmI173D/LMLNAVOoHbWcHz3+0vpxryA"
)
if _HASHER.check_needs_rehash(DUMMY_HASH):  # pragma: no cover - a unit test keeps this false
    DUMMY_HASH = _HASHER.hash(secrets.token_bytes(32))


def hash_password(password: str) -> str:
    """Hash `password` for storage: an encoded argon2id string (`$argon2id$...`).

    Call `password_problems` first; this function hashes whatever it is given.
    """
    return _ARGON2_POOL.submit(_HASHER.hash, _encode(password)).result()


def verify_password(*, stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches `stored_hash`.

    `stored_hash=None` (no such user, or no password identity) still runs one
    argon2 verification, against `DUMMY_HASH`, and returns False. An unreadable
    stored hash is logged and treated the same way. Never raises for any
    password string.
    """
    secret = _encode(password)
    if stored_hash is None:
        _argon2_verify(DUMMY_HASH, secret)
        return False
    try:
        return _argon2_verify(stored_hash, secret)
    except ValueError:  # argon2.exceptions.InvalidHashError, or a non-ASCII hash
        logger.error("stored password hash is not a readable argon2 hash")
        _argon2_verify(DUMMY_HASH, secret)
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether `stored_hash` was made with other parameters (or another type) than now.

    Call after a successful `verify_password`, and store `hash_password(password)`
    when this is True. An unreadable hash needs a rehash too.
    """
    try:
        return _HASHER.check_needs_rehash(stored_hash)
    except ValueError:  # InvalidHashError, or a non-ASCII hash
        return True


def password_problems(password: str) -> list[str]:
    """What is wrong with `password` as a new password; empty when it is acceptable.

    The messages are written for the `errors[].message` of a 422 problem.
    """
    length = len(password)
    if length < MIN_PASSWORD_LENGTH:
        return [f"must be at least {MIN_PASSWORD_LENGTH} characters"]
    if length > MAX_PASSWORD_LENGTH:
        return [f"must be at most {MAX_PASSWORD_LENGTH} characters"]
    if any(0xD800 <= ord(char) <= 0xDFFF for char in password):
        # Lone surrogates arrive through JSON escapes ("\ud800"); they are not text.
        return ["must be valid Unicode text"]
    if _comparable(password) in load_common_passwords():
        return ["is too common: choose a password that is harder to guess"]
    return []


@functools.cache
def load_common_passwords() -> frozenset[str]:
    """The shipped list of the 10 000 most common passwords, lower-cased."""
    from importlib import resources  # ~12 ms to import: paid on first use, not at cold start

    text = resources.files("common.auth").joinpath(COMMON_PASSWORDS_FILE).read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def _argon2_verify(stored_hash: str, secret: bytes) -> bool:
    """The one place argon2 verification runs (both the real and the dummy path)."""
    try:
        return _ARGON2_POOL.submit(_HASHER.verify, stored_hash, secret).result()
    except VerificationError:  # includes VerifyMismatchError
        return False


def _encode(password: str) -> bytes:
    # "surrogatepass": a lone surrogate cannot be in a stored password (the policy
    # refuses it) but must not crash a login attempt either.
    return unicodedata.normalize("NFKC", password).encode("utf-8", "surrogatepass")


def _comparable(password: str) -> str:
    return unicodedata.normalize("NFKC", password).strip().lower()
