"""Revoking every session (password change, logout-all) against a login racing it (issue 12.1).

The guarantee: once a revocation has answered, no session started before it is live, however a
racing login interleaves with it; a password change's own new pair is the only live session.
Each test runs the two requests on their own threads and clients, released by a barrier, many
times; where a particular interleaving matters, the test waits for it explicitly, by watching
the requests' transactions in `pg_stat_activity` or by holding a row lock of its own, never by
sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from werkzeug.test import Client

from tests.api.helpers import live, login_outlived, run_together, wait_for
from tests.factories import Account, register, strong_password
from tests.identity_providers import GOOGLE

pytestmark = pytest.mark.api

TRIES = 24


def login(client: Client, email: str, password: str) -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def api_backends(engine: Engine, where: str) -> int:
    """How many other backends of this database match `where` (pg_stat_activity)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    f" AND {where}"
                )
            ).scalar_one()
        )


def change_is_past_its_throttle(engine: Engine) -> bool:
    """A request is inside its transaction, after counting a password attempt (the change,
    holding its email's throttle row while it checks and hashes passwords)."""
    return (
        api_backends(engine, "state = 'idle in transaction' AND query ILIKE '%login_throttles%'")
        > 0
    )


def test_a_login_racing_a_password_change_never_outlives_it(
    client: Client, gateway: Any, engine: Engine
) -> None:
    survivors, staged = [], 0
    for attempt in range(TRIES):
        account = register(client)
        new_password = strong_password()
        # Every other try, the login starts once the change is under way (it holds its
        # throttle row and is checking or hashing a password); the others race freely.
        stage = attempt % 2 == 0

        def change(account: Account = account, new_password: str = new_password) -> Any:
            return Client(gateway).post(
                "/v1/auth/password",
                json={"current_password": account.password, "new_password": new_password},
                headers=account.headers,
            )

        def old_login(account: Account = account, stage: bool = stage) -> tuple[bool, Any]:
            seen = wait_for(lambda: change_is_past_its_throttle(engine)) if stage else False
            return seen, login(Client(gateway), account.email, account.password)

        changed, (seen, logged_in) = run_together(change, old_login)
        staged += seen
        if login_outlived(client, account.refresh_token, changed, logged_in):
            survivors.append(attempt)
    assert staged > 0, "the staged interleaving never happened"
    assert survivors == [], f"old-password sessions outlived the change in tries {survivors}"


def session_ids(engine: Engine, user_id: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id FROM auth_sessions WHERE user_id = :u"), {"u": user_id}
        ).scalars()
        return [str(r) for r in rows]


def sign_in_during_logout_all(
    client: Client, gateway: Any, engine: Engine, account: Account, sign_in: Callable[[], Any]
) -> bool:
    """One try: logout-all held by a lock on one of the account's sessions (it deletes them
    all) while `sign_in()` goes; whether the sign-in answered before logout-all could finish
    and its session outlived it."""
    (first_session,) = session_ids(engine, account.id)
    results: dict[str, Any] = {}

    def logout_all() -> None:
        results["logout_all"] = Client(gateway).post("/v1/auth/logout-all", headers=account.headers)

    def new_sign_in() -> None:
        results["sign_in"] = sign_in()

    waiting = "wait_event_type = 'Lock'"
    with engine.connect() as holder:
        holder.execute(
            text("SELECT 1 FROM auth_sessions WHERE id = :s FOR UPDATE"), {"s": first_session}
        )
        first, second = threading.Thread(target=logout_all), threading.Thread(target=new_sign_in)
        first.start()
        assert wait_for(lambda: api_backends(engine, waiting) == 1)
        second.start()
        # the sign-in either answers now, or waits for logout-all to finish
        assert wait_for(lambda: "sign_in" in results or api_backends(engine, waiting) == 2)
        answered_first = "sign_in" in results
        holder.rollback()  # logout-all goes on
    first.join(timeout=60)
    second.join(timeout=60)
    assert results["logout_all"].status_code == 204
    assert results["sign_in"].status_code == 200, results["sign_in"].get_data(as_text=True)
    assert not live(client, account.refresh_token)
    signed_in = results["sign_in"].get_json()["tokens"]["refresh_token"]
    return answered_first and live(client, signed_in)


def login_during_logout_all(client: Client, gateway: Any, engine: Engine) -> bool:
    account = register(client)
    return sign_in_during_logout_all(
        client,
        gateway,
        engine,
        account,
        lambda: login(Client(gateway), account.email, account.password),
    )


def google_sign_in_during_logout_all(client: Client, gateway: Any, engine: Engine) -> bool:
    """The same with Sign in with Google: an account made by a Google sign-up, signing in
    again with a new ID token of the same Google user."""
    claims = GOOGLE.claims()
    signed_up = client.post("/v1/auth/google", json={"id_token": GOOGLE.sign(claims)})
    assert signed_up.status_code == 201, signed_up.get_data(as_text=True)
    body = signed_up.get_json()
    tokens = body["tokens"]
    account = Account(
        id=body["user"]["id"],
        email=claims["email"],
        password="",  # a password-less account
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
    )
    again = GOOGLE.sign({**claims, "iat": claims["iat"] + 1})
    return sign_in_during_logout_all(
        client,
        gateway,
        engine,
        account,
        lambda: Client(gateway).post("/v1/auth/google", json={"id_token": again}),
    )


def test_a_login_that_answered_during_logout_all_does_not_outlive_it(
    client: Client, gateway: Any, engine: Engine
) -> None:
    """The interleaving a one-statement revocation gets wrong, made certain: logout-all is
    held while a login completes; a login that answered before logout-all could finish must
    not survive it (one that waited for it is a sign-in after it, and lives)."""
    survivors = [n for n in range(20) if login_during_logout_all(client, gateway, engine)]
    assert survivors == [], f"sessions that logged in before logout-all outlived it: {survivors}"


def test_a_google_sign_in_that_answered_during_logout_all_does_not_outlive_it(
    client: Client, gateway: Any, engine: Engine
) -> None:
    """Every way in counts as a login for a revocation: a Google sign-in held the same way."""
    tries = range(20)
    survivors = [n for n in tries if google_sign_in_during_logout_all(client, gateway, engine)]
    assert survivors == [], f"Google sign-ins before logout-all outlived it: {survivors}"
