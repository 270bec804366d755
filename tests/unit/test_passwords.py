"""Password hashing, the dummy-hash path, rehash detection and the password policy."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import unicodedata

import pytest
from argon2 import PasswordHasher, Type
from argon2.low_level import hash_secret

from common.auth import passwords

pytestmark = pytest.mark.unit

GOOD_PASSWORD = "correct horse battery staple"


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The stored hashes argon2 verification actually ran against, in order."""
    calls: list[str] = []
    real_verify = passwords._argon2_verify

    def spy(stored_hash: str, secret: bytes) -> bool:
        calls.append(stored_hash)
        return real_verify(stored_hash, secret)

    monkeypatch.setattr(passwords, "_argon2_verify", spy)
    return calls


# --- hashing and verifying ------------------------------------------------------------


def test_stored_hash_is_argon2id_with_the_chosen_parameters() -> None:
    stored = passwords.hash_password(GOOD_PASSWORD)
    assert stored.startswith("$argon2id$")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_parameters_are_at_least_owasp_minimum() -> None:
    hasher = passwords._HASHER
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024
    assert hasher.time_cost >= 2
    assert hasher.parallelism >= 1
    assert hasher.salt_len >= 16


def test_same_password_hashes_differently_each_time() -> None:
    assert passwords.hash_password(GOOD_PASSWORD) != passwords.hash_password(GOOD_PASSWORD)


def test_verify_accepts_the_password_and_refuses_others() -> None:
    stored = passwords.hash_password(GOOD_PASSWORD)
    assert passwords.verify_password(stored_hash=stored, password=GOOD_PASSWORD) is True
    assert passwords.verify_password(stored_hash=stored, password=GOOD_PASSWORD + " ") is False
    assert passwords.verify_password(stored_hash=stored, password="") is False


def test_long_passwords_are_never_truncated() -> None:
    # bcrypt stops at 72 bytes; make sure nothing here stops before 256 characters.
    base = "x" * 255
    stored = passwords.hash_password(base + "a")
    assert passwords.verify_password(stored_hash=stored, password=base + "a") is True
    assert passwords.verify_password(stored_hash=stored, password=base + "b") is False


def test_unicode_passwords_verify_in_either_normal_form() -> None:
    password = "mot de passe Élève naïve 密码 🐎"
    stored = passwords.hash_password(unicodedata.normalize("NFC", password))
    decomposed = unicodedata.normalize("NFD", password)
    assert decomposed != password
    assert passwords.verify_password(stored_hash=stored, password=decomposed) is True


def test_odd_text_never_raises() -> None:
    stored = passwords.hash_password(GOOD_PASSWORD)
    for attempt in ["\udcff", "\x00" * 10, "\u200b" * 300, "a" * 100_000]:
        assert passwords.verify_password(stored_hash=stored, password=attempt) is False


# --- unknown users: the dummy path ----------------------------------------------------


def test_unknown_user_runs_one_verification_against_the_dummy_hash(
    argon2_calls: list[str],
) -> None:
    assert passwords.verify_password(stored_hash=None, password=GOOD_PASSWORD) is False
    assert argon2_calls == [passwords.DUMMY_HASH]


def test_known_user_runs_one_verification_against_its_own_hash(argon2_calls: list[str]) -> None:
    stored = passwords.hash_password(GOOD_PASSWORD)
    assert passwords.verify_password(stored_hash=stored, password="wrong password") is False
    assert argon2_calls == [stored]


def test_dummy_hash_costs_the_same_as_a_real_one() -> None:
    # Same type, version, memory, time, parallelism, salt and hash length: same work.
    assert not passwords.needs_rehash(passwords.DUMMY_HASH)


def test_unreadable_stored_hash_fails_closed_after_the_same_work(
    argon2_calls: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger=passwords.__name__):
        result = passwords.verify_password(stored_hash="not a hash", password=GOOD_PASSWORD)
    assert result is False
    assert argon2_calls == ["not a hash", passwords.DUMMY_HASH]
    assert "not a readable argon2 hash" in caplog.text
    assert "not a hash" not in caplog.text  # the stored value itself is never logged


# --- memory bound ---------------------------------------------------------------------


def test_argon2_runs_on_the_bounded_pool_only() -> None:
    # Occupy every pool thread: a verification must queue behind them, not run
    # on the calling thread, and proceed once a pool thread is free.
    release = threading.Event()
    blockers = [
        passwords._ARGON2_POOL.submit(release.wait) for _ in range(passwords.MAX_CONCURRENT_HASHES)
    ]
    results: list[bool] = []
    caller = threading.Thread(
        target=lambda: results.append(passwords.verify_password(stored_hash=None, password="x"))
    )
    try:
        caller.start()
        caller.join(timeout=0.5)
        assert caller.is_alive()
        assert results == []
    finally:
        release.set()
    caller.join()
    assert results == [False]
    assert all(blocker.result() for blocker in blockers)


def test_argon2_threads_are_the_pool_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    names: list[str] = []
    real_hasher = passwords._HASHER

    class NamingHasher:
        def verify(self, stored_hash: str, secret: bytes) -> bool:
            names.append(threading.current_thread().name)
            return real_hasher.verify(stored_hash, secret)

    monkeypatch.setattr(passwords, "_HASHER", NamingHasher())
    passwords.verify_password(stored_hash=None, password=GOOD_PASSWORD)
    assert len(names) == 1
    assert names[0].startswith("argon2")


# --- rehash ---------------------------------------------------------------------------


def test_fresh_hash_needs_no_rehash() -> None:
    assert passwords.needs_rehash(passwords.hash_password(GOOD_PASSWORD)) is False


@pytest.mark.parametrize(
    ("time_cost", "memory_cost", "parallelism"),
    [(1, 19 * 1024, 1), (2, 8 * 1024, 1), (1, 8 * 1024, 1), (3, 65536, 4)],
    ids=["weaker time", "weaker memory", "weaker both", "argon2-cffi default"],
)
def test_hash_with_other_parameters_needs_rehash(
    time_cost: int, memory_cost: int, parallelism: int
) -> None:
    other = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    stored = other.hash(GOOD_PASSWORD)
    assert passwords.verify_password(stored_hash=stored, password=GOOD_PASSWORD) is True
    assert passwords.needs_rehash(stored) is True


def test_argon2i_hash_verifies_and_needs_rehash() -> None:
    stored = hash_secret(
        secret=GOOD_PASSWORD.encode(),
        salt=b"0123456789abcdef",
        time_cost=2,
        memory_cost=19 * 1024,
        parallelism=1,
        hash_len=32,
        type=Type.I,
    ).decode()
    assert passwords.verify_password(stored_hash=stored, password=GOOD_PASSWORD) is True
    assert passwords.needs_rehash(stored) is True


@pytest.mark.parametrize("stored", ["", "garbage", "$argon2id$v=19$m=1", "$argon2id$é"])
def test_unreadable_hash_needs_rehash(stored: str) -> None:
    assert passwords.needs_rehash(stored) is True


# --- policy ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "kv7#Lq2m",  # exactly 8
        "kv7#Lq2m" * 32,  # exactly 256
        "Zürich-Fondue-2031",
        "пароль-для-Сили-2031",
        "🐎🐎🐎🐎🐎🐎🐎🐎",  # 8 code points, 32 bytes
        "    spaces  around are kept   ",
    ],
    ids=["8", "256", "latin accents", "cyrillic", "8 emoji", "spaces"],
)
def test_acceptable_passwords(password: str) -> None:
    assert passwords.password_problems(password) == []


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "at least 8"),
        ("kv7#Lq2", "at least 8"),
        ("🐎" * 7, "at least 8"),  # 28 bytes, but 7 characters
        ("kv7#Lq2m" * 32 + "x", "at most 256"),
        ("🐎" * 257, "at most 256"),
        ("ab\udcffcdefgh", "valid Unicode"),
    ],
    ids=["empty", "7", "7 emoji", "257", "257 emoji", "lone surrogate"],
)
def test_refused_lengths_and_text(password: str, problem: str) -> None:
    problems = passwords.password_problems(password)
    assert len(problems) == 1
    assert problem in problems[0]


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PASSWORD",
        "Password",
        "iloveyou",
        "qwertyuiop",
        " password ",
        "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44",  # fullwidth "password"
    ],
    ids=["lower", "upper", "capitalised", "iloveyou", "keyboard row", "padded", "fullwidth"],
)
def test_common_passwords_are_refused_whatever_the_case(password: str) -> None:
    assert passwords.password_problems(password) == [
        "is too common: choose a password that is harder to guess"
    ]


def test_common_password_list_is_shipped_and_complete() -> None:
    common = passwords.load_common_passwords()
    assert len(common) == 10_000
    assert all(entry == entry.lower() for entry in common)
    assert {"123456", "password", "qwerty"} <= common
    assert passwords.load_common_passwords() is common  # read once


def test_importing_passwords_does_not_read_the_list() -> None:
    code = (
        "from common.auth import passwords as p; "
        "assert p.load_common_passwords.cache_info().currsize == 0; "
        "import sys; assert 'jwt' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
