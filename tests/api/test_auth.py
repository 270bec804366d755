"""The `auth` function (docs/api.md §3) through HTTP: register, login, refresh, logout, password.

Tests that need to see what was stored (hashes, throttle counters) or to set up a state the
API cannot reach quickly (an expired token, an outdated hash) use the database directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, select, text
from werkzeug.test import Client

from common.auth import passwords
from common.config import get_settings
from common.db.throttles import client_subject, email_subject, registration_subject
from tests.api.helpers import assert_problem, error_fields
from tests.factories import Account, register, strong_password, unique_email

pytestmark = pytest.mark.api


def fresh_address() -> str:
    """A client address no other test uses (the per-address counter is shared by all)."""
    a, b, c = secrets.token_bytes(3)
    return f"10.{a}.{b}.{c}"


def via_edge(client_ip: str, *, spoofed: str = "198.51.100.7") -> dict[str, str]:
    """X-Forwarded-For as it reaches a function behind Cloudflare and the load balancer."""
    return {"X-Forwarded-For": f"{spoofed}, {client_ip}, 172.70.1.1, 34.120.0.1"}


def register_as(client: Client, address: str, email: str | None = None) -> Any:
    body = {"email": email or unique_email(), "password": strong_password(), "username": "x"}
    return client.post("/v1/auth/register", json=body, headers=via_edge(address))


def login(client: Client, email: str, password: str, **kwargs: Any) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password}, **kwargs)


def refresh(client: Client, token: str) -> Any:
    return client.post("/v1/auth/refresh", json={"refresh_token": token})


def me(client: Client, access_token: str) -> Any:
    return client.get("/v1/users/me", headers={"Authorization": f"Bearer {access_token}"})


def email_key(engine: Engine, email: str) -> bytes:
    """The throttle key of an email, as the database computes it."""
    with engine.connect() as conn:
        return bytes(conn.execute(select(email_subject(email))).scalar_one())


def throttle_failures(engine: Engine, kind: str, subject: bytes) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT failures FROM login_throttles WHERE kind = :k AND subject = :s"),
            {"k": kind, "s": subject},
        ).scalar()


def end_window(engine: Engine, kind: str, subject: bytes) -> None:
    """Move a throttle row's window 16 minutes back: it has ended."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE login_throttles SET window_started_at = now() - interval '16 minutes'"
                " WHERE kind = :k AND subject = :s"
            ),
            {"k": kind, "s": subject},
        )


def assert_token_pair(tokens: dict[str, Any]) -> None:
    assert set(tokens) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("sealy_rt_")


# --- register ----------------------------------------------------------------------------


def test_register_creates_the_account_and_signs_it_in(client: Client, queries: Any) -> None:
    email = unique_email()
    response = client.post(
        "/v1/auth/register",
        json={
            "email": email,
            "password": strong_password(),
            "username": "ada",
            "display_name": "Ada L.",
            "timezone": "Europe/London",
            "locale": "en-gb",
        },
        headers=via_edge(fresh_address()),
    )
    assert response.status_code == 201
    assert queries() == 2  # the address's refused registrations, then the account
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Location"] == "/v1/users/me"
    body = response.get_json()
    assert set(body) == {"user", "tokens"}
    user = body["user"]
    assert set(user) == {
        "id",
        "email",
        "email_verified",
        "username",
        "display_name",
        "timezone",
        "locale",
        "user_type",
        "created_at",
        "updated_at",
    }
    assert user["email"] == email
    assert (user["username"], user["display_name"]) == ("ada", "Ada L.")
    assert (user["timezone"], user["locale"]) == ("Europe/London", "en-GB")
    assert user["user_type"] == "individual"
    assert user["email_verified"] is False  # a password registration: not proven yet
    assert user["created_at"].endswith("Z")
    assert_token_pair(body["tokens"])
    assert me(client, body["tokens"]["access_token"]).get_json() == user


def test_register_stores_the_password_identity(client: Client, engine: Engine) -> None:
    account = register(client)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT provider, email, password_hash, is_primary FROM auth_identities"
                " WHERE user_id = :id"
            ),
            {"id": account.id},
        ).one()
    assert row.provider == "password"
    assert row.email == account.email
    assert row.is_primary is True
    assert row.password_hash.startswith("$argon2id$")
    assert account.password not in row.password_hash


@pytest.mark.parametrize("variant", [str.upper, str.title, lambda e: e])
def test_a_taken_email_is_409_ignoring_case(
    client: Client, engine: Engine, variant: Callable[[str], str]
) -> None:
    account = register(client)
    response = register_as(client, fresh_address(), variant(account.email))
    assert_problem(response, 409)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM users WHERE email = :e"), {"e": account.email}
        ).scalar()
    assert count == 1


def test_refused_registrations_throttle_the_address(
    client: Client, engine: Engine, queries: Any
) -> None:
    taken = register(client).email
    address, other = fresh_address(), fresh_address()
    for _ in range(5):
        assert_problem(register_as(client, address, taken), 409)
    assert queries() == 3  # the count read, the insert that found the email, the count
    fresh = unique_email()
    throttled = register_as(client, address, fresh)
    problem = assert_problem(throttled, 429)
    assert queries() == 1  # refused before any hashing or insert
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60
    assert "address" in problem["detail"]
    assert_problem(register_as(client, address, taken), 429)  # no more answers about emails
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT count(*) FROM users WHERE email = :e"), {"e": fresh}
        ).scalar()
    assert count == 0
    assert register_as(client, other, fresh).status_code == 201  # another address is free


def test_successful_registrations_do_not_count(client: Client) -> None:
    address = fresh_address()
    for _ in range(8):
        assert register_as(client, address).status_code == 201


def test_the_registration_throttle_ends_with_its_window(client: Client, engine: Engine) -> None:
    taken = register(client).email
    address = fresh_address()
    for _ in range(5):
        assert_problem(register_as(client, address, taken), 409)
    assert_problem(register_as(client, address), 429)
    end_window(engine, "register", registration_subject(address))
    assert register_as(client, address).status_code == 201
    assert_problem(register_as(client, address, taken), 409)  # a new window, counted from 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "x" * 257}, "password"),
        ({"password": "password123"}, "password"),
        ({"password": "Password123 "}, "password"),
        ({"username": ""}, "username"),
        ({"username": "   "}, "username"),
        ({"username": "a\u0000b"}, "username"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "europe/berlin"}, "timezone"),
        ({"timezone": "+02:00"}, "timezone"),
        ({"locale": "en_US"}, "locale"),
        ({"locale": "english"}, "locale"),
        ({"locale": "en-US-u-ca-buddhist"}, "locale"),
        ({"id": str(uuid.uuid4())}, "id"),
        ({"user_type": "organization"}, "user_type"),
        ({"version": 7}, "version"),
    ],
)
def test_invalid_registrations_are_422(client: Client, changes: dict[str, Any], field: str) -> None:
    body = {"email": unique_email(), "password": strong_password(), "username": "x", **changes}
    assert error_fields(client.post("/v1/auth/register", json=body)) == {field}


def test_every_invalid_field_is_reported(client: Client) -> None:
    response = client.post("/v1/auth/register", json={"email": "nope", "password": "123"})
    assert error_fields(response) == {"email", "password", "username"}


def test_the_error_messages_echo_no_input(client: Client) -> None:
    secret = "hunter2"
    body = {"email": "secret-address@", "password": secret, "username": "x"}
    problem = json.dumps(client.post("/v1/auth/register", json=body).get_json())
    assert secret not in problem
    assert "secret-address" not in problem


@pytest.mark.parametrize(
    ("given", "stored"),
    [("en", "en"), ("EN-us", "en-US"), ("zh-hant-tw", "zh-Hant-TW"), ("es-419", "es-419")],
)
def test_locales_are_stored_in_canonical_case(client: Client, given: str, stored: str) -> None:
    response = client.post(
        "/v1/auth/register",
        json={
            "email": unique_email(),
            "password": strong_password(),
            "username": "x",
            "locale": given,
        },
    )
    assert response.get_json()["user"]["locale"] == stored


def test_unicode_passwords_are_accepted_and_normalised(client: Client) -> None:
    composed = "Café-crème-\u00e9t\u00e9-42"
    account = register(client, password=composed)
    decomposed = composed.replace("\u00e9", "e\u0301")
    assert login(client, account.email, decomposed).status_code == 200


# --- login -------------------------------------------------------------------------------


def test_login_returns_the_user_and_a_new_pair(client: Client, queries: Any) -> None:
    account = register(client)
    response = login(client, account.email.upper(), account.password)
    assert response.status_code == 200
    assert queries() == 2
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["user"]["id"] == account.id
    assert body["user"]["email"] == account.email
    assert_token_pair(body["tokens"])
    assert body["tokens"]["refresh_token"] != account.refresh_token
    assert me(client, body["tokens"]["access_token"]).status_code == 200
    # a login starts a new session: the registration's session lives on
    assert refresh(client, account.refresh_token).status_code == 200


def test_wrong_password_and_unknown_email_get_the_same_401(client: Client, queries: Any) -> None:
    account = register(client)
    wrong = login(client, account.email, "not-the-password", headers=via_edge("192.0.2.10"))
    assert queries() == 2
    unknown = login(client, unique_email(), account.password, headers=via_edge("192.0.2.11"))
    assert queries() == 2
    for response in (wrong, unknown):
        assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    ignore = {"request_id"}
    assert {k: v for k, v in wrong.get_json().items() if k not in ignore} == {
        k: v for k, v in unknown.get_json().items() if k not in ignore
    }


@pytest.fixture
def argon2_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification (its stored hash), still performed."""
    calls: list[str] = []
    real = passwords._argon2_verify

    def spy(stored_hash: str, secret: bytes) -> bool:
        calls.append(stored_hash)
        return real(stored_hash, secret)

    monkeypatch.setattr(passwords, "_argon2_verify", spy)
    return calls


def test_an_unknown_email_still_runs_one_verification(
    client: Client, argon2_calls: list[str]
) -> None:
    assert login(client, unique_email(), strong_password()).status_code == 401
    assert argon2_calls == [passwords.DUMMY_HASH]


def test_a_wrong_password_runs_one_verification_of_the_stored_hash(
    client: Client, argon2_calls: list[str]
) -> None:
    account = register(client)
    assert login(client, account.email, "not-the-password").status_code == 401
    assert len(argon2_calls) == 1
    assert argon2_calls[0].startswith("$argon2id$")
    assert argon2_calls[0] != passwords.DUMMY_HASH


def test_an_outdated_hash_is_rehashed_at_login(client: Client, engine: Engine) -> None:
    account = register(client)
    old = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(account.password)
    assert passwords.needs_rehash(old)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE auth_identities SET password_hash = :h WHERE user_id = :id"),
            {"h": old, "id": account.id},
        )
    assert login(client, account.email, account.password).status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT password_hash FROM auth_identities WHERE user_id = :id"),
            {"id": account.id},
        ).scalar_one()
    assert stored != old
    assert not passwords.needs_rehash(stored)
    assert login(client, account.email, account.password).status_code == 200


def test_login_body_is_validated(client: Client) -> None:
    assert error_fields(client.post("/v1/auth/login", json={"email": "x"})) == {
        "email",
        "password",
    }
    response = client.post(
        "/v1/auth/login", json={"email": unique_email(), "password": "x", "remember": True}
    )
    assert error_fields(response) == {"remember"}


# --- throttling ------------------------------------------------------------------------------


def test_the_sixth_bad_login_in_a_row_is_429(client: Client, engine: Engine, queries: Any) -> None:
    account = register(client)
    edge = via_edge(fresh_address())
    for _ in range(5):
        assert_problem(login(client, account.email, "not-the-password", headers=edge), 401)
    response = login(client, account.email, "not-the-password", headers=edge)
    assert_problem(response, 429)
    assert queries() <= 3
    assert 0 < int(response.headers["Retry-After"]) <= 900
    # the right password does not get through either, and is not even checked
    assert_problem(login(client, account.email, account.password, headers=edge), 429)
    assert throttle_failures(engine, "email", email_key(engine, account.email)) == 7


def test_unknown_emails_are_throttled_the_same_way(client: Client) -> None:
    email = unique_email()
    statuses = [login(client, email, "whatever-it-is").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_the_throttle_ignores_the_email_case(client: Client) -> None:
    account = register(client)
    for variant in (str.lower, str.upper, str.title, str.lower, str.upper):
        assert login(client, variant(account.email), "nope-nope").status_code == 401
    assert login(client, account.email, account.password).status_code == 429


def test_a_success_resets_the_email_count(client: Client, engine: Engine) -> None:
    account = register(client)
    for _ in range(4):
        assert login(client, account.email, "not-the-password").status_code == 401
    assert login(client, account.email, account.password).status_code == 200
    assert throttle_failures(engine, "email", email_key(engine, account.email)) is None
    statuses = [login(client, account.email, "not-it").status_code for _ in range(5)]
    assert statuses == [401] * 5


def test_a_finished_window_starts_over(client: Client, engine: Engine) -> None:
    account = register(client)
    for _ in range(6):
        login(client, account.email, "not-the-password")
    end_window(engine, "email", email_key(engine, account.email))
    assert login(client, account.email, account.password).status_code == 200


def _run_at_once(count: int, work: Callable[[Client], Any], app: Any) -> list[Any]:
    """`work` in `count` threads released together, each with its own client."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        own = Client(app)
        barrier.wait()
        try:
            results[index] = work(own)
        except BaseException as exc:  # reported below, never lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_parallel_bad_logins_count_exactly_twenty(
    client: Client, gateway: Any, engine: Engine
) -> None:
    account = register(client)
    address = fresh_address()
    responses = _run_at_once(
        20,
        lambda own: login(own, account.email, "not-the-password", headers=via_edge(address)),
        gateway,
    )
    statuses = sorted(r.status_code for r in responses)
    # each attempt is counted before its password check, one after the other on the row:
    # exactly five checks ran, the other fifteen were refused unchecked
    assert statuses == [401] * 5 + [429] * 15
    assert throttle_failures(engine, "email", email_key(engine, account.email)) == 20
    assert throttle_failures(engine, "client", client_subject(address)) == 20


def test_an_address_with_100_failures_is_throttled(client: Client, engine: Engine) -> None:
    account = register(client)
    address = fresh_address()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO login_throttles (kind, subject, failures, window_started_at)"
                " VALUES ('client', :s, 99, now() - interval '5 minutes')"
            ),
            {"s": client_subject(address)},
        )
    assert login(client, unique_email(), "nope-nope", headers=via_edge(address)).status_code == 401
    # the 100th failure is in: every login from there is refused, whatever the email
    response = login(client, account.email, account.password, headers=via_edge(address))
    assert_problem(response, 429)
    assert 500 < int(response.headers["Retry-After"]) <= 600
    # the same account from another address is fine; a forged left-most entry changes nothing
    other = via_edge(fresh_address(), spoofed=address)
    assert login(client, account.email, account.password, headers=other).status_code == 200


def test_the_trusted_entry_is_the_third_from_the_right(client: Client, engine: Engine) -> None:
    address = fresh_address()
    headers = {"X-Forwarded-For": f"10.9.8.7, 10.9.8.6, {address}, 172.70.1.1, 34.120.0.1"}
    login(client, unique_email(), "nope-nope", headers=headers)
    assert throttle_failures(engine, "client", client_subject(address)) == 1


# --- refresh -----------------------------------------------------------------------------------


def test_refresh_rotates_the_token(client: Client, queries: Any) -> None:
    account = register(client)
    response = refresh(client, account.refresh_token)
    assert response.status_code == 200
    assert queries() == 2
    assert response.headers["Cache-Control"] == "no-store"
    assert set(response.get_json()) == {"tokens"}
    tokens = response.get_json()["tokens"]
    assert_token_pair(tokens)
    assert tokens["refresh_token"] != account.refresh_token
    assert me(client, tokens["access_token"]).get_json()["id"] == account.id
    # and again, from the new one
    assert refresh(client, tokens["refresh_token"]).status_code == 200


def test_reusing_a_rotated_token_revokes_the_whole_session(client: Client, queries: Any) -> None:
    account = register(client)
    first = refresh(client, account.refresh_token).get_json()["tokens"]["refresh_token"]
    second = refresh(client, first).get_json()["tokens"]["refresh_token"]
    other_session = login(client, account.email, account.password).get_json()["tokens"]

    reuse = refresh(client, account.refresh_token)  # the thief, or the victim, replays
    assert_problem(reuse, 401)
    assert queries() == 2
    # the newest token of that session is dead too; a replay of it changes nothing more
    assert_problem(refresh(client, second), 401)
    assert_problem(refresh(client, first), 401)
    # another session of the same user is not affected
    assert refresh(client, other_session["refresh_token"]).status_code == 200


def test_concurrent_refreshes_of_one_token_have_one_winner(client: Client, gateway: Any) -> None:
    account = register(client)
    responses = _run_at_once(8, lambda own: refresh(own, account.refresh_token), gateway)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * 7
    for response in responses:
        if response.status_code == 401:
            assert_problem(response, 401)
    # the losers presented a token that had been rotated meanwhile: that is reuse, and the
    # session ends, the winner's new token included (clients refresh one token at a time)
    (winner,) = [r for r in responses if r.status_code == 200]
    assert_problem(refresh(client, winner.get_json()["tokens"]["refresh_token"]), 401)


@pytest.mark.parametrize(
    "token",
    [
        "sealy_rt_" + "A" * 43,  # well-formed, never issued
        "sealy_rt_short",
        "",
        "x" * 5000,
        "sealy_rt_" + "A" * 42 + "=",
    ],
)
def test_unknown_or_malformed_refresh_tokens_are_401(client: Client, token: str) -> None:
    assert_problem(refresh(client, token), 401)


def test_an_access_token_sent_to_refresh_is_401(client: Client, queries: Any) -> None:
    account = register(client)
    assert_problem(refresh(client, account.access_token), 401)
    assert queries() == 0
    assert refresh(client, account.refresh_token).status_code == 200


def test_an_expired_refresh_token_is_401(client: Client, engine: Engine) -> None:
    account = register(client)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE refresh_tokens SET expires_at = now() - interval '1 second'"
                " WHERE token_hash = :h"
            ),
            {"h": hashlib.sha256(account.refresh_token.encode()).digest()},
        )
    assert_problem(refresh(client, account.refresh_token), 401)


def test_a_switched_off_user_cannot_refresh(client: Client, engine: Engine) -> None:
    account = register(client)
    other = register(client)
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = false WHERE id = :id"), {"id": account.id})
    assert_problem(refresh(client, account.refresh_token), 401)
    assert_problem(login(client, account.email, account.password), 401)
    assert refresh(client, other.refresh_token).status_code == 200
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET is_active = true WHERE id = :id"), {"id": account.id})
    assert refresh(client, account.refresh_token).status_code == 200  # the session was kept


def test_refresh_tokens_live_30_days_and_are_stored_only_as_sha256(
    client: Client, engine: Engine
) -> None:
    account = register(client)
    rotated = refresh(client, account.refresh_token).get_json()["tokens"]["refresh_token"]
    issued = [account.refresh_token, rotated]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT t.token_hash, t.expires_at - t.created_at AS lifetime,"
                " t.rotated_at IS NOT NULL AS rotated"
                " FROM refresh_tokens t JOIN auth_sessions s ON s.id = t.session_id"
                " WHERE s.user_id = :id ORDER BY t.created_at"
            ),
            {"id": account.id},
        ).all()
        everything = conn.execute(
            text("SELECT string_agg(t::text, ' ') FROM refresh_tokens t")
        ).scalar_one()
    assert [bytes(r.token_hash) for r in rows] == [
        hashlib.sha256(token.encode()).digest() for token in issued
    ]
    assert [r.rotated for r in rows] == [True, False]
    assert all(r.lifetime == timedelta(days=30) for r in rows)
    for token in issued:
        assert token not in everything
        assert token.encode().hex() not in everything


# --- logout ------------------------------------------------------------------------------------


def test_logout_ends_that_session_only(client: Client, queries: Any) -> None:
    account = register(client)
    other = login(client, account.email, account.password).get_json()["tokens"]
    response = client.post("/v1/auth/logout", json={"refresh_token": account.refresh_token})
    assert response.status_code == 204
    assert queries() == 1
    assert response.get_data() == b""
    assert_problem(refresh(client, account.refresh_token), 401)
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_logout_with_a_rotated_token_ends_its_session(client: Client) -> None:
    account = register(client)
    newest = refresh(client, account.refresh_token).get_json()["tokens"]["refresh_token"]
    assert (
        client.post("/v1/auth/logout", json={"refresh_token": account.refresh_token}).status_code
        == 204
    )
    assert_problem(refresh(client, newest), 401)


@pytest.mark.parametrize("token", ["sealy_rt_" + "B" * 43, "garbage", ""])
def test_logout_is_204_for_any_token(client: Client, token: str) -> None:
    assert client.post("/v1/auth/logout", json={"refresh_token": token}).status_code == 204


def test_logout_twice_is_204(client: Client) -> None:
    account = register(client)
    for _ in range(2):
        response = client.post("/v1/auth/logout", json={"refresh_token": account.refresh_token})
        assert response.status_code == 204


def test_logout_needs_a_body(client: Client) -> None:
    assert error_fields(client.post("/v1/auth/logout", json={})) == {"refresh_token"}


def test_logout_all_ends_every_session(client: Client, queries: Any) -> None:
    account = register(client)
    sessions = [login(client, account.email, account.password).get_json()["tokens"] for _ in "ab"]
    stranger = register(client)
    response = client.post("/v1/auth/logout-all", headers=account.headers)
    assert response.status_code == 204
    assert queries() == 2  # the revocation lock, then the delete
    for token in [account.refresh_token] + [s["refresh_token"] for s in sessions]:
        assert_problem(refresh(client, token), 401)
    assert refresh(client, stranger.refresh_token).status_code == 200
    # signing in again works
    assert login(client, account.email, account.password).status_code == 200


def test_logout_all_needs_a_bearer_token(client: Client) -> None:
    account = register(client)
    response = client.post("/v1/auth/logout-all")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    response = client.post(
        "/v1/auth/logout-all", headers={"Authorization": f"Bearer {account.refresh_token}"}
    )
    assert_problem(response, 401)
    assert refresh(client, account.refresh_token).status_code == 200


# --- password change ------------------------------------------------------------------------------


def change_password(client: Client, account: Account, current: str, new: str) -> Any:
    return client.post(
        "/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=account.headers,
    )


def test_password_change_leaves_only_the_new_session(client: Client, queries: Any) -> None:
    account = register(client)
    other = login(client, account.email, account.password).get_json()["tokens"]
    new_password = strong_password()
    response = change_password(client, account, account.password, new_password)
    assert response.status_code == 200
    assert queries() == 3
    assert response.headers["Cache-Control"] == "no-store"
    tokens = response.get_json()["tokens"]
    assert_token_pair(tokens)
    for token in (account.refresh_token, other["refresh_token"]):
        assert_problem(refresh(client, token), 401)
    assert refresh(client, tokens["refresh_token"]).status_code == 200
    assert_problem(login(client, account.email, account.password), 401)
    assert login(client, account.email, new_password).status_code == 200


def test_a_wrong_current_password_is_403_and_changes_nothing(client: Client, queries: Any) -> None:
    account = register(client)
    response = change_password(client, account, "not-the-password", strong_password())
    assert_problem(response, 403)
    assert queries() == 1  # the check counted and the credentials read, in one statement
    assert refresh(client, account.refresh_token).status_code == 200
    assert login(client, account.email, account.password).status_code == 200


def test_wrong_current_passwords_count_like_failed_logins(client: Client) -> None:
    account = register(client)
    statuses = [
        change_password(client, account, "not-the-password", strong_password()).status_code
        for _ in range(6)
    ]
    assert statuses == [403] * 5 + [429]
    assert login(client, account.email, account.password).status_code == 429


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"current_password": "x", "new_password": "short"}, {"new_password"}),
        ({"current_password": "x", "new_password": "qwertyuiop"}, {"new_password"}),
        ({"current_password": "", "new_password": "a-Fine-passw0rd"}, {"current_password"}),
        ({"new_password": "a-Fine-passw0rd"}, {"current_password"}),
        ({"current_password": "x", "new_password": "a-Fine-passw0rd", "email": "x"}, {"email"}),
    ],
)
def test_password_change_is_validated(
    client: Client, body: dict[str, Any], fields: set[str]
) -> None:
    account = register(client)
    response = client.post("/v1/auth/password", json=body, headers=account.headers)
    assert error_fields(response) == fields


def test_password_change_needs_a_bearer_token(client: Client) -> None:
    response = client.post(
        "/v1/auth/password", json={"current_password": "x", "new_password": "a-Fine-passw0rd"}
    )
    assert_problem(response, 401)


# --- hostile access tokens ---------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forge(header: dict[str, Any], claims: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def hs256(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def signing_key() -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(os.environ["JWT_SIGNING_KEY"].encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


def public_pem() -> bytes:
    return (
        signing_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


DROP = object()


def header(**changes: Any) -> dict[str, Any]:
    values = {"alg": "EdDSA", "typ": "at+jwt", "kid": os.environ["JWT_SIGNING_KID"], **changes}
    return {k: v for k, v in values.items() if v is not DROP}


def claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    settings = get_settings()
    values = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": user_id,
        "iat": now,
        "exp": now + 900,
        "jti": str(uuid.uuid4()),
        **changes,
    }
    return {k: v for k, v in values.items() if v is not DROP}


def signed(user_id: str, *, head: dict[str, Any] | None = None, **changes: Any) -> str:
    return forge(head or header(), claims(user_id, **changes), signing_key().sign)


def now_ts() -> int:
    return int(datetime.now(UTC).timestamp())


HOSTILE: dict[str, Callable[[Account], str]] = {
    "alg none": lambda a: (
        f"{b64url(json.dumps(header(alg='none')).encode())}."
        f"{b64url(json.dumps(claims(a.id)).encode())}."
    ),
    "alg none with a signature": lambda a: forge(header(alg="none"), claims(a.id), lambda _: b"x"),
    "HS256 with a guessable secret": lambda a: forge(
        header(alg="HS256"), claims(a.id), hs256(b"secret")
    ),
    "HS256 keyed with the public key": lambda a: forge(
        header(alg="HS256"), claims(a.id), hs256(public_pem())
    ),
    "payload altered": lambda a: altered_payload_of(a),
    "signature stripped": lambda a: a.access_token.rsplit(".", 1)[0] + ".",
    "signed by another key under our kid": lambda a: forge(
        header(), claims(a.id), Ed25519PrivateKey.generate().sign
    ),
    "jwk header with the attacker's key": lambda a: forge(
        header(jwk={"kty": "OKP", "crv": "Ed25519", "x": b64url(b"A" * 32)}),
        claims(a.id),
        Ed25519PrivateKey.generate().sign,
    ),
    "expired": lambda a: signed(a.id, iat=now_ts() - 2000, exp=now_ts() - 1000),
    "nbf in the future": lambda a: signed(a.id, nbf=now_ts() + 120),
    "iat in the future": lambda a: signed(a.id, iat=now_ts() + 120, exp=now_ts() + 1000),
    "missing iss": lambda a: signed(a.id, iss=DROP),
    "missing aud": lambda a: signed(a.id, aud=DROP),
    "missing sub": lambda a: signed(a.id, sub=DROP),
    "missing iat": lambda a: signed(a.id, iat=DROP),
    "missing exp": lambda a: signed(a.id, exp=DROP),
    "missing jti": lambda a: signed(a.id, jti=DROP),
    "wrong iss": lambda a: signed(a.id, iss="https://evil.example"),
    "wrong aud": lambda a: signed(a.id, aud="another-api"),
    "wrong typ": lambda a: signed(a.id, head=header(typ="JWT")),
    "unknown kid": lambda a: signed(a.id, head=header(kid="test-0000000000000000")),
    "odd kid": lambda a: signed(a.id, head=header(kid="../../../etc/passwd")),
    "kid not a string": lambda a: signed(a.id, head=header(kid=7)),
    "no kid": lambda a: signed(a.id, head=header(kid=DROP)),
    "sub not a uuid": lambda a: signed(a.id, sub="admin"),
    "a refresh token": lambda a: a.refresh_token,
    "garbage": lambda a: "not.a.token",
    "empty pieces": lambda a: "..",
}


def altered_payload_of(account: Account) -> str:
    head, payload, signature = account.access_token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["sub"] = str(uuid.uuid4())
    return f"{head}.{b64url(json.dumps(body).encode())}.{signature}"


@pytest.fixture(scope="module")
def victim(gateway: Any) -> Account:
    return register(Client(gateway))


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/users/me"), ("POST", "/v1/auth/logout-all")]
)
def test_hostile_access_tokens_are_401(
    client: Client, victim: Account, name: str, method: str, path: str
) -> None:
    token = HOSTILE[name](victim)
    response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_the_forging_helpers_make_valid_tokens(client: Client, victim: Account) -> None:
    assert me(client, signed(victim.id)).status_code == 200


@pytest.mark.parametrize(
    "value", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"]
)
def test_malformed_authorization_headers_are_401(client: Client, value: str) -> None:
    response = client.get("/v1/users/me", headers={"Authorization": value})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_missing_authorization_header_is_a_plain_bearer_challenge(client: Client) -> None:
    response = client.get("/v1/users/me")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_valid_token_header_scheme_is_case_insensitive(client: Client, victim: Account) -> None:
    response = client.get(
        "/v1/users/me", headers={"Authorization": f"bearer {victim.access_token}"}
    )
    assert response.status_code == 200


# --- the contract's statement budget ------------------------------------------------------------


def test_every_auth_route_runs_at_most_three_statements(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.http")
    account = register(client)
    address = fresh_address()
    login(client, account.email, account.password, headers=via_edge(address))
    login(client, account.email, "wrong-password", headers=via_edge(address))
    login(client, unique_email(), "wrong-password", headers=via_edge(address))
    rotated = refresh(client, account.refresh_token).get_json()["tokens"]["refresh_token"]
    refresh(client, account.refresh_token)  # reuse
    refresh(client, rotated)
    client.post("/v1/auth/logout", json={"refresh_token": rotated})
    change_password(client, account, "wrong-password", strong_password())
    change_password(client, account, account.password, strong_password())
    client.post("/v1/auth/logout-all", headers=account.headers)
    for _ in range(6):
        login(client, account.email, "wrong-password", headers=via_edge(address))
    seen: dict[tuple[str, int], int] = {}
    for record in caplog.records:
        if hasattr(record, "db_queries") and record.route:
            key = (record.route, record.status)
            seen[key] = max(seen.get(key, 0), record.db_queries)
    routes = {route for route, _ in seen}
    assert routes == {
        f"/v1/auth/{name}"
        for name in ("register", "login", "refresh", "logout", "logout-all", "password")
    }
    assert {status for _, status in seen} >= {200, 201, 204, 401, 403, 429}
    assert all(count <= 3 for count in seen.values()), seen


def test_the_openapi_document_lists_the_auth_routes(client: Client) -> None:
    paths = client.get("/v1/auth/openapi.json").get_json()["paths"]
    assert set(paths["/v1/auth/register"]["post"]["responses"]) >= {"201", "409", "422"}
    assert set(paths["/v1/auth/login"]["post"]["responses"]) >= {"200", "401", "429"}
    assert paths["/v1/auth/login"]["post"]["security"] == []
    assert set(paths["/v1/auth/password"]["post"]["responses"]) >= {"200", "401", "403", "429"}
    assert paths["/v1/auth/logout-all"]["post"]["security"] == [{"bearer": []}]
    assert "204" in paths["/v1/auth/logout"]["post"]["responses"]
