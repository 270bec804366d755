"""Sign in with Google and Apple (api-v1 §11) through HTTP: sign-in, accounts created from
ID tokens, linking and unlinking, the last way in, a password-less account's password and
erasure.

The ID tokens are signed with test RSA keys whose public halves Google's and Apple's
stand-ins serve from real HTTP servers on loopback (tests/identity_providers.py), so the
production code fetches and checks them. Times in tokens are set explicitly (an expired
token has its `exp` in the past); nothing waits. The key cache's own behaviour is
tests/api/test_provider_keys.py.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text
from werkzeug.test import Client

from common.db.throttles import client_subject
from tests.api.helpers import QueryLog, assert_problem, error_fields
from tests.api.test_auth import fresh_address, via_edge
from tests.factories import register, strong_password, unique_email
from tests.identity_providers import (
    APPLE,
    GOOGLE,
    RsaKey,
    StandIn,
    hs256_token,
    nonce_pair,
    unsigned_token,
)

pytestmark = pytest.mark.api

TRIES = 20  # race tests: fresh accounts, barrier-released requests, this many times


def google(client: Client, token: str, **kwargs: Any) -> Any:
    return client.post("/v1/auth/google", json={"id_token": token}, **kwargs)


def apple(client: Client, token: str, nonce: str, **fields: Any) -> Any:
    headers = fields.pop("headers", None)
    body = {"id_token": token, "nonce": nonce, **fields}
    return client.post("/v1/auth/apple", json=body, headers=headers)


def apple_token(**overrides: Any) -> tuple[str, str]:
    """A valid Apple token and the raw nonce its request used."""
    nonce, digest = nonce_pair()
    return APPLE.token(nonce=digest, **overrides), nonce


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def me(client: Client, tokens: dict[str, Any]) -> Any:
    return client.get("/v1/users/me", headers=bearer(tokens))


def identities_of(client: Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = client.get("/v1/auth/identities", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def link(client: Client, headers: dict[str, str], provider: str, token: str, **body: Any) -> Any:
    payload = {"provider": provider, "id_token": token, **body}
    return client.post("/v1/auth/identities", json=payload, headers=headers)


def unlink(client: Client, headers: dict[str, str], provider: str) -> Any:
    return client.delete(f"/v1/auth/identities/{provider}", headers=headers)


def google_account(client: Client, **claims: Any) -> dict[str, Any]:
    """A new account signed up with Google: its response body plus the token's claims."""
    claims = GOOGLE.claims(**claims)
    response = google(client, GOOGLE.sign(claims))
    assert response.status_code == 201, response.get_data(as_text=True)
    return {**response.get_json(), "claims": claims}


def user_count(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM users WHERE email = :e"), {"e": email}
            ).scalar_one()
        )


def identity_rows(engine: Engine, subject: str) -> list[Any]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT user_id, provider::text, email FROM auth_identities"
                    " WHERE provider_user_id = :s"
                ),
                {"s": subject},
            )
        )


def client_failures(engine: Engine, address: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT failures FROM login_throttles WHERE kind = 'client' AND subject = :s"),
            {"s": client_subject(address)},
        ).scalar()


# --- new accounts and returning users ---------------------------------------------------------


def test_a_new_google_identity_creates_a_verified_account(
    client: Client, engine: Engine, queries: Any
) -> None:
    claims = GOOGLE.claims()
    response = google(client, GOOGLE.sign(claims), headers=via_edge(fresh_address()))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert queries() == 2  # the sign-in check, then the account with its identity and session
    assert response.headers["Location"] == "/v1/users/me"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"user", "tokens", "created"}
    assert body["created"] is True
    user = body["user"]
    assert user["email"] == claims["email"]
    assert user["email_verified"] is True
    assert user["username"] == "Ada Lovelace"  # the token's name
    assert user["display_name"] is None
    profile = me(client, body["tokens"])
    assert profile.status_code == 200
    assert profile.get_json()["id"] == user["id"]
    assert [(r.provider, r.email) for r in identity_rows(engine, claims["sub"])] == [
        ("google", claims["email"])
    ]
    listed = identities_of(client, bearer(body["tokens"]))
    assert [(i["provider"], i["email"]) for i in listed] == [("google", claims["email"])]


def test_a_returning_user_signs_in_to_the_same_account(client: Client, queries: Any) -> None:
    first = google_account(client)
    again = google(client, GOOGLE.token(sub=first["claims"]["sub"], email=first["claims"]["email"]))
    assert again.status_code == 200, again.get_data(as_text=True)
    assert queries() == 2  # the sign-in check, then the session
    assert "Location" not in again.headers
    body = again.get_json()
    assert body["created"] is False
    assert body["user"]["id"] == first["user"]["id"]
    assert body["tokens"]["refresh_token"] != first["tokens"]["refresh_token"]
    assert me(client, body["tokens"]).get_json()["id"] == first["user"]["id"]
    # each sign-in is its own session: the first one's refresh token still works
    refreshed = client.post(
        "/v1/auth/refresh", json={"refresh_token": first["tokens"]["refresh_token"]}
    )
    assert refreshed.status_code == 200


def test_a_returning_users_new_email_is_shown_for_the_identity(client: Client) -> None:
    first = google_account(client)
    new_email = unique_email()
    again = google(client, GOOGLE.token(sub=first["claims"]["sub"], email=new_email))
    assert again.status_code == 200
    assert again.get_json()["user"]["email"] == first["claims"]["email"]  # the account's own
    listed = identities_of(client, bearer(again.get_json()["tokens"]))
    assert [i["email"] for i in listed] == [new_email]


def test_apple_takes_the_username_and_display_name_from_the_body(client: Client) -> None:
    token, nonce = apple_token()
    response = apple(client, token, nonce, username="ada", display_name="Ada L.")
    assert response.status_code == 201, response.get_data(as_text=True)
    user = response.get_json()["user"]
    assert (user["username"], user["display_name"]) == ("ada", "Ada L.")
    assert user["email_verified"] is True  # Apple's "true", a string


@pytest.mark.parametrize(
    ("stand_in", "claims", "username"),
    [
        (GOOGLE, {"name": None, "email": "grace.hopper@example.com"}, "grace.hopper"),
        (GOOGLE, {"name": "  "}, None),  # a blank name: the email's local part
        (GOOGLE, {"name": "x" * 80}, "x" * 50),  # trimmed to the profile's 50 characters
        (APPLE, {"email": "k.johnson@privaterelay.appleid.com"}, "k.johnson"),
        (GOOGLE, {"name": None, "email": None, "email_verified": None}, "Google"),
    ],
)
def test_without_a_username_the_token_names_the_account(
    client: Client, stand_in: StandIn, claims: dict[str, Any], username: str | None
) -> None:
    nonce, digest = nonce_pair()
    full = stand_in.claims(nonce=digest, **claims)
    token = stand_in.sign(full)
    response = google(client, token) if stand_in is GOOGLE else apple(client, token, nonce)
    assert response.status_code == 201, response.get_data(as_text=True)
    expected = username if username is not None else full["email"].split("@")[0]
    assert response.get_json()["user"]["username"] == expected


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_email_never_becomes_the_accounts(
    client: Client, engine: Engine, verified: Any
) -> None:
    taken = register(client)  # the unverified email is someone else's account
    claims = GOOGLE.claims(email=taken.email, email_verified=verified)
    response = google(client, GOOGLE.sign(claims))
    # not 409 (the email proves nothing), not a sign-in to the owner's account: a new
    # account without that email
    assert response.status_code == 201, response.get_data(as_text=True)
    user = response.get_json()["user"]
    assert user["id"] != taken.id
    assert (user["email"], user["email_verified"]) == (None, False)
    assert user_count(engine, taken.email) == 1
    # the provider's word is kept for the identity list, marked as nothing more
    listed = identities_of(client, bearer(response.get_json()["tokens"]))
    assert [(i["provider"], i["email"]) for i in listed] == [("google", taken.email)]


def test_an_unverified_apple_email_is_not_the_accounts_either(client: Client) -> None:
    token, nonce = apple_token(email_verified="false")
    response = apple(client, token, nonce)
    assert response.status_code == 201
    assert response.get_json()["user"]["email"] is None


# --- every way a token can be wrong -----------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _tampered(stand_in: StandIn) -> str:
    token = stand_in.token()
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


BAD_TOKENS: dict[str, Callable[[StandIn], str]] = {
    "another app's audience": lambda p: p.token(aud="someone-elses.apps.example.com"),
    "no audience": lambda p: p.token(aud=None),
    "another issuer": lambda p: p.token(iss="https://accounts.example.com"),
    "the other provider's issuer": lambda p: p.token(
        iss=APPLE.issuer if p is GOOGLE else GOOGLE.issuer
    ),
    "expired an hour ago": lambda p: p.token(iat=_now() - 7200, exp=_now() - 3600),
    "expired past the 60 s leeway": lambda p: p.token(iat=_now() - 700, exp=_now() - 100),
    "issued in the future": lambda p: p.token(iat=_now() + 600, exp=_now() + 1200),
    "not valid before later": lambda p: p.token(nbf=_now() + 600),
    "no expiry": lambda p: p.token(exp=None),
    "a fractional issue time": lambda p: p.token(iat=_now() + 0.5),
    "no subject": lambda p: p.token(sub=None),
    "an empty subject": lambda p: p.token(sub=""),
    "signed by another key under its kid": lambda p: p.sign(
        p.claims(), key=RsaKey.new(), kid=p.key.kid
    ),
    "a changed payload": _tampered,
    "a kid the provider does not publish": lambda p: p.sign(p.claims(), key=RsaKey.new()),
    "no kid": lambda p: unsigned_token({"alg": "RS256"}, p.claims(), b"x" * 256),
    "alg none": lambda p: unsigned_token({"alg": "none", "kid": p.key.kid}, p.claims()),
    "HS256 keyed with the public key": lambda p: hs256_token(
        p.key.public_pem, {"alg": "HS256", "kid": p.key.kid, "typ": "JWT"}, p.claims()
    ),
    "RS512 with the right key": lambda p: p.sign(p.claims(), algorithm="RS512"),
    "PS256 with the right key": lambda p: p.sign(p.claims(), algorithm="PS256"),
    "a crit header": lambda p: p.sign(p.claims()),  # replaced below
    "not a JWT": lambda p: "not-a-token",
    "three dots of nothing": lambda p: "a.b.c",
}


def _with_crit(stand_in: StandIn) -> str:
    import jwt

    return jwt.encode(
        stand_in.claims(),
        stand_in.key.private_key,
        algorithm="RS256",
        headers={"kid": stand_in.key.kid, "crit": ["exp"]},
    )


BAD_TOKENS["a crit header"] = _with_crit


@pytest.mark.parametrize("stand_in", [GOOGLE, APPLE], ids=["google", "apple"])
@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_every_wrong_token_is_401_and_creates_nothing(
    client: Client, engine: Engine, stand_in: StandIn, case: str
) -> None:
    token = BAD_TOKENS[case](stand_in)
    address = fresh_address()
    if stand_in is GOOGLE:
        response = google(client, token, headers=via_edge(address))
    else:
        # an Apple token must also carry the nonce's digest; these tokens carry none, so the
        # nonce is checked last: every case here fails before it
        response = apple(client, token, "n", headers=via_edge(address))
    body = assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"  # the access token is not at issue
    assert body["detail"].startswith(f"The {stand_in.name.title()} ID token is not valid: ")
    assert client_failures(engine, address) == 1  # counted like a failed login


def test_within_the_leeway_an_expired_token_still_signs_in(client: Client) -> None:
    response = google(client, GOOGLE.token(iat=_now() - 600, exp=_now() - 20))
    assert response.status_code == 201


def test_an_apple_token_needs_the_nonce_its_request_used(client: Client, engine: Engine) -> None:
    nonce, digest = nonce_pair()
    claims = APPLE.claims(nonce=digest)
    token = APPLE.sign(claims)
    for wrong in ("another-nonce", digest):  # the digest itself is not the nonce
        body = assert_problem(apple(client, token, wrong), 401)
        assert "nonce" in body["detail"]
    body = assert_problem(apple(client, APPLE.token(), nonce), 401)  # a token without one
    assert "nonce" in body["detail"]
    assert identity_rows(engine, claims["sub"]) == []
    assert apple(client, token, nonce).status_code == 201


def test_sign_in_bodies_are_validated(client: Client) -> None:
    assert error_fields(client.post("/v1/auth/google", json={})) == {"id_token"}
    assert error_fields(client.post("/v1/auth/google", json={"id_token": ""})) == {"id_token"}
    assert error_fields(client.post("/v1/auth/google", json={"id_token": "x", "nonce": "n"})) == {
        "nonce"
    }  # the contract's Google body has no nonce
    assert error_fields(client.post("/v1/auth/apple", json={"id_token": "x"})) == {"nonce"}
    long = client.post("/v1/auth/apple", json={"id_token": "x" * 8193, "nonce": "n"})
    assert error_fields(long) == {"id_token"}
    token, nonce = apple_token()
    bad_name = apple(client, token, nonce, username=" ")
    assert error_fields(bad_name) == {"username"}


# --- throttle ---------------------------------------------------------------------------------


def set_client_failures(engine: Engine, address: str, failures: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO login_throttles (kind, subject, failures, window_started_at)"
                " VALUES ('client', :s, :f, now())"
            ),
            {"s": client_subject(address), "f": failures},
        )


def test_an_address_with_too_many_refusals_cannot_sign_in(client: Client, engine: Engine) -> None:
    address = fresh_address()
    set_client_failures(engine, address, 99)
    claims = GOOGLE.claims()
    assert_problem(google(client, "not-a-token", headers=via_edge(address)), 401)  # the 100th
    response = google(client, GOOGLE.sign(claims), headers=via_edge(address))
    assert_problem(response, 429)
    assert 0 < int(response.headers["Retry-After"]) <= 900  # the window's end
    assert identity_rows(engine, claims["sub"]) == []
    assert client_failures(engine, address) == 101
    # the same token from another address signs in: the address was held back, not the token
    assert google(client, GOOGLE.sign(claims), headers=via_edge(fresh_address())).status_code == 201


def test_a_switched_off_account_cannot_sign_in(client: Client, engine: Engine) -> None:
    social = google_account(client)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE users SET is_active = false WHERE id = :u"), {"u": social["user"]["id"]}
        )
    address = fresh_address()
    claims = social["claims"]
    response = google(client, GOOGLE.sign(claims), headers=via_edge(address))
    assert assert_problem(response, 401)["detail"] == "This account cannot sign in."
    assert client_failures(engine, address) == 1
    with engine.begin() as conn:  # switched on again, it signs in: nothing else was changed
        conn.execute(
            text("UPDATE users SET is_active = true WHERE id = :u"), {"u": social["user"]["id"]}
        )
    assert google(client, GOOGLE.sign(claims)).status_code == 200


# --- accounts are never merged: 409, then link while signed in --------------------------------


def test_a_verified_email_of_an_existing_account_is_409(client: Client, engine: Engine) -> None:
    account = register(client)
    claims = GOOGLE.claims(email=account.email.upper())  # emails ignore case
    address = fresh_address()
    response = google(client, GOOGLE.sign(claims), headers=via_edge(address))
    body = assert_problem(response, 409)
    assert "link" in body["detail"]
    assert identity_rows(engine, claims["sub"]) == []
    assert client_failures(engine, address) is None  # not a failed sign-in: the email's owner
    # signed in the usual way, the user links Google; from then on Google signs in there
    linked = link(client, account.headers, "google", GOOGLE.sign(claims))
    assert linked.status_code == 201, linked.get_data(as_text=True)
    again = google(client, GOOGLE.sign(claims))
    assert again.status_code == 200
    assert again.get_json()["user"]["id"] == account.id


def test_an_apple_identity_with_a_taken_email_is_409_too(client: Client) -> None:
    owner = google_account(client)
    token, nonce = apple_token(email=owner["claims"]["email"])
    assert_problem(apple(client, token, nonce), 409)


# --- linking ----------------------------------------------------------------------------------


def test_linking_adds_a_way_in(client: Client, queries: Any) -> None:
    account = register(client)
    claims = GOOGLE.claims()
    response = link(client, account.headers, "google", GOOGLE.sign(claims))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert queries() == 1
    assert response.headers["Location"] == "/v1/auth/identities/google"
    item = response.get_json()
    assert set(item) == {"provider", "email", "created_at"}
    assert (item["provider"], item["email"]) == ("google", claims["email"])
    listed = identities_of(client, account.headers)
    assert [(i["provider"], i["email"]) for i in listed] == [
        ("password", account.email),
        ("google", claims["email"]),
    ]
    assert listed[1] == item
    # an Apple account too (its nonce checked)
    token, nonce = apple_token()
    assert link(client, account.headers, "apple", token, nonce=nonce).status_code == 201
    assert [i["provider"] for i in identities_of(client, account.headers)] == [
        "password",
        "google",
        "apple",
    ]


def test_linking_the_same_identity_again_is_200(client: Client) -> None:
    account = register(client)
    token = GOOGLE.token()
    first = link(client, account.headers, "google", token)
    again = link(client, account.headers, "google", token)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json()
    assert "Location" not in again.headers


def test_an_identity_linked_elsewhere_is_409(client: Client) -> None:
    owner = google_account(client)
    other = register(client)
    token = GOOGLE.token(sub=owner["claims"]["sub"])
    body = assert_problem(link(client, other.headers, "google", token), 409)
    assert "another account" in body["detail"]
    assert [i["provider"] for i in identities_of(client, other.headers)] == ["password"]


def test_a_second_identity_of_one_provider_is_409(client: Client) -> None:
    account = register(client)
    assert link(client, account.headers, "google", GOOGLE.token()).status_code == 201
    body = assert_problem(link(client, account.headers, "google", GOOGLE.token()), 409)
    assert "remove it first" in body["detail"]
    assert len(identities_of(client, account.headers)) == 2


def test_linking_checks_the_token_like_sign_in(client: Client) -> None:
    account = register(client)
    response = link(client, account.headers, "google", GOOGLE.token(aud="other.app"))
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    token, _ = apple_token()
    assert_problem(link(client, account.headers, "apple", token), 401)  # Apple needs the nonce
    assert_problem(link(client, account.headers, "apple", token, nonce="wrong"), 401)
    assert [i["provider"] for i in identities_of(client, account.headers)] == ["password"]


def test_linking_needs_a_signed_in_user(client: Client) -> None:
    response = client.post(
        "/v1/auth/identities", json={"provider": "google", "id_token": GOOGLE.token()}
    )
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert_problem(client.get("/v1/auth/identities"), 401)
    assert_problem(client.delete("/v1/auth/identities/google"), 401)


def test_link_bodies_are_validated(client: Client) -> None:
    account = register(client)
    headers = account.headers
    post = client.post
    assert error_fields(post("/v1/auth/identities", json={}, headers=headers)) == {
        "provider",
        "id_token",
    }
    password = {"provider": "password", "id_token": "x"}  # a password is set, not linked
    assert error_fields(post("/v1/auth/identities", json=password, headers=headers)) == {"provider"}


def test_linking_a_provider_that_verified_the_accounts_email_verifies_it(client: Client) -> None:
    account = register(client)
    before = client.get("/v1/users/me", headers=account.headers)
    assert before.get_json()["email_verified"] is False
    unverified = GOOGLE.token(email=account.email, email_verified=False)
    assert link(client, account.headers, "google", unverified).status_code == 201
    assert client.get("/v1/users/me", headers=account.headers).get_json()["email_verified"] is False
    assert unlink(client, account.headers, "google").status_code == 204
    verified = GOOGLE.token(email=account.email.upper())
    assert link(client, account.headers, "google", verified).status_code == 201
    after = client.get("/v1/users/me", headers=account.headers)
    assert after.get_json()["email_verified"] is True
    assert after.headers["ETag"] != before.headers["ETag"]  # the representation changed


# --- unlinking and the last way in ------------------------------------------------------------


def test_unlinking_removes_a_way_in(client: Client, queries: Any) -> None:
    account = register(client)
    claims = GOOGLE.claims()
    assert link(client, account.headers, "google", GOOGLE.sign(claims)).status_code == 201
    response = unlink(client, account.headers, "google")
    assert response.status_code == 204
    assert queries() == 2  # the lock, then the removal
    assert [i["provider"] for i in identities_of(client, account.headers)] == ["password"]
    # that Google account no longer signs in here: it is a stranger with someone's email now
    assert google(client, GOOGLE.sign(claims)).status_code == 201


def test_unlinking_what_is_not_linked_is_204_and_unknown_providers_404(client: Client) -> None:
    account = register(client)
    assert unlink(client, account.headers, "apple").status_code == 204
    assert_problem(unlink(client, account.headers, "facebook"), 404)
    assert [i["provider"] for i in identities_of(client, account.headers)] == ["password"]


def test_the_last_way_in_cannot_be_removed(client: Client) -> None:
    account = register(client)
    body = assert_problem(unlink(client, account.headers, "password"), 409)
    assert "last way to sign in" in body["detail"]
    social = google_account(client)
    assert_problem(unlink(client, bearer(social["tokens"]), "google"), 409)
    # with a second way in, either may go
    assert link(client, account.headers, "google", GOOGLE.token()).status_code == 201
    assert unlink(client, account.headers, "password").status_code == 204
    assert [i["provider"] for i in identities_of(client, account.headers)] == ["google"]
    assert_problem(unlink(client, account.headers, "google"), 409)
    # the password is gone: it no longer logs in
    login = client.post(
        "/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert_problem(login, 401)


def _at_once(app: Any, *calls: tuple[Any, ...]) -> list[Any]:
    """Each call `(function, *args)` as `function(client, *args)`, in its own thread with its
    own client, all released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        function, *args = calls[index]
        own = Client(app)
        barrier.wait()
        try:
            results[index] = function(own, *args)
        except BaseException as exc:  # reported below, never lost in the thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_two_removals_at_once_never_remove_the_last_way_in(client: Client, gateway: Any) -> None:
    outcomes = set()
    for attempt in range(TRIES):
        social = google_account(client)
        headers = bearer(social["tokens"])
        token, nonce = apple_token()
        assert link(client, headers, "apple", token, nonce=nonce).status_code == 201
        first, second = ("google", "apple") if attempt % 2 else ("apple", "google")
        responses = _at_once(gateway, (unlink, headers, first), (unlink, headers, second))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [204, 409], [r.get_data(as_text=True) for r in responses]
        left = identities_of(client, headers)
        assert len(left) == 1
        outcomes.add(left[0]["provider"])
    assert outcomes  # each try left exactly one way in


def test_a_password_and_an_identity_removed_at_once_leave_one(client: Client, gateway: Any) -> None:
    for _ in range(TRIES):
        account = register(client)
        assert link(client, account.headers, "google", GOOGLE.token()).status_code == 201
        responses = _at_once(
            gateway, (unlink, account.headers, "password"), (unlink, account.headers, "google")
        )
        assert sorted(r.status_code for r in responses) == [204, 409]
        assert len(identities_of(client, account.headers)) == 1


def test_two_first_sign_ins_at_once_make_one_account(
    client: Client, gateway: Any, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    statements = QueryLog(caplog)
    for _ in range(TRIES):
        claims = GOOGLE.claims()
        token = GOOGLE.sign(claims)
        responses = _at_once(gateway, (google, token), (google, token))
        assert sorted(r.status_code for r in responses) == [200, 201], [
            r.get_data(as_text=True) for r in responses
        ]
        assert len({r.get_json()["user"]["id"] for r in responses}) == 1
        assert user_count(engine, claims["email"]) == 1
        assert len(identity_rows(engine, claims["sub"])) == 1
        # the loser waited for the winner's identity, then signed in to its account
        assert all(statements.of(r) <= 3 for r in responses)


def test_a_sign_in_and_a_registration_of_one_email_at_once_make_one_account(
    client: Client, gateway: Any, engine: Engine
) -> None:
    outcomes = set()
    for _ in range(TRIES):
        claims = GOOGLE.claims()
        body = {"email": claims["email"], "password": strong_password(), "username": "x"}
        # a refused registration counts against its address: one of its own, not the suite's
        address = via_edge(fresh_address())
        signed_in, registered = _at_once(
            gateway,
            (google, GOOGLE.sign(claims)),
            (post_json, "/v1/auth/register", body, address),
        )
        statuses = (signed_in.status_code, registered.status_code)
        assert statuses in {(201, 409), (409, 201)}, [
            signed_in.get_data(as_text=True),
            registered.get_data(as_text=True),
        ]
        outcomes.add(statuses)
        assert user_count(engine, claims["email"]) == 1
        owners = {row.user_id for row in identity_rows(engine, claims["sub"])}
        assert len(owners) == (1 if signed_in.status_code == 201 else 0)
    assert outcomes  # whichever came first: one account, never two, never a 500


def post_json(client: Client, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return client.post(url, json=body, headers=headers)


def test_one_identity_linked_to_two_accounts_at_once_goes_to_one(
    client: Client, gateway: Any, engine: Engine
) -> None:
    for _ in range(TRIES):
        first, second = register(client), register(client)
        claims = GOOGLE.claims()
        token = GOOGLE.sign(claims)
        responses = _at_once(
            gateway,
            (link, first.headers, "google", token),
            (link, second.headers, "google", token),
        )
        assert sorted(r.status_code for r in responses) == [201, 409]
        owners = {row.user_id for row in identity_rows(engine, claims["sub"])}
        assert len(owners) == 1


# --- a password-less account: its password and its erasure ------------------------------------


def set_password(client: Client, headers: dict[str, str], new: str, **body: Any) -> Any:
    return client.post("/v1/auth/password", json={"new_password": new, **body}, headers=headers)


def test_a_password_less_account_sets_its_first_password(client: Client, queries: Any) -> None:
    social = google_account(client)
    headers = bearer(social["tokens"])
    password = strong_password()
    response = set_password(client, headers, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert queries() == 3  # the credentials, the revocation lock, the password with the session
    tokens = response.get_json()["tokens"]
    # every earlier session ended; the returned pair is the live one
    old = client.post("/v1/auth/refresh", json={"refresh_token": social["tokens"]["refresh_token"]})
    assert_problem(old, 401)
    assert (
        client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 200
    )
    login = client.post(
        "/v1/auth/login", json={"email": social["claims"]["email"], "password": password}
    )
    assert login.status_code == 200
    assert login.get_json()["user"]["id"] == social["user"]["id"]
    assert [i["provider"] for i in identities_of(client, bearer(tokens))] == ["google", "password"]
    # from now on a change needs the current password
    again = set_password(client, bearer(tokens), strong_password())
    assert error_fields(again) == {"current_password"}
    changed = set_password(client, bearer(tokens), strong_password(), current_password=password)
    assert changed.status_code == 200


def test_a_current_password_on_a_password_less_account_is_wrong(client: Client) -> None:
    social = google_account(client)
    response = set_password(
        client, bearer(social["tokens"]), strong_password(), current_password="anything"
    )
    assert_problem(response, 403)


def test_an_account_without_email_cannot_have_a_password(client: Client) -> None:
    social = google_account(client, email=None, email_verified=None)
    assert_problem(set_password(client, bearer(social["tokens"]), strong_password()), 409)


def test_two_first_passwords_at_once_store_one(
    client: Client, gateway: Any, engine: Engine
) -> None:
    for _ in range(TRIES):
        social = google_account(client)
        headers = bearer(social["tokens"])
        responses = _at_once(
            gateway,
            (set_password, headers, strong_password()),
            (set_password, headers, strong_password()),
        )
        assert sorted(r.status_code for r in responses) == [200, 409]
        with engine.connect() as conn:
            passwords = conn.execute(
                text(
                    "SELECT count(*) FROM auth_identities WHERE user_id = :u"
                    " AND provider = 'password'"
                ),
                {"u": social["user"]["id"]},
            ).scalar_one()
        assert passwords == 1


def erase(client: Client, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return client.delete("/v1/users/me", json=body, headers=headers)


def test_a_password_less_account_erases_itself_with_a_fresh_token(
    client: Client, engine: Engine, queries: Any
) -> None:
    social = google_account(client)
    headers = bearer(social["tokens"])
    claims = social["claims"]
    fresh = GOOGLE.token(sub=claims["sub"], email=claims["email"], iat=_now() - 60)
    response = erase(client, headers, {"provider": "google", "id_token": fresh})
    assert response.status_code == 204, response.get_data(as_text=True)
    assert queries() == 3  # credentials, the identity's owner, the erasure
    assert_problem(me(client, social["tokens"]), 401)
    assert identity_rows(engine, claims["sub"]) == []
    assert user_count(engine, claims["email"]) == 0


def test_an_apple_account_erases_itself_with_its_token(client: Client) -> None:
    token, nonce = apple_token()
    created = apple(client, token, nonce)
    assert created.status_code == 201
    tokens = created.get_json()["tokens"]
    claims = jwt_claims(token)
    again, _ = apple_token(sub=claims["sub"])
    # the nonce is checked when sent, and may be left out (the contract's body has none)
    wrong = erase(client, bearer(tokens), {"provider": "apple", "id_token": again, "nonce": "x"})
    assert_problem(wrong, 401)
    assert (
        erase(client, bearer(tokens), {"provider": "apple", "id_token": again}).status_code == 204
    )


def jwt_claims(token: str) -> dict[str, Any]:
    import jwt

    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_erasure_refuses_stale_foreign_and_bad_tokens(client: Client) -> None:
    social = google_account(client)
    headers = bearer(social["tokens"])
    sub = social["claims"]["sub"]
    stale = GOOGLE.token(sub=sub, iat=_now() - 12 * 60)  # still unexpired: Google's live 1 h
    assert (
        "minutes ago"
        in assert_problem(erase(client, headers, {"provider": "google", "id_token": stale}), 401)[
            "detail"
        ]
    )
    foreign = GOOGLE.token()  # a valid token of a Google account not linked here
    assert_problem(erase(client, headers, {"provider": "google", "id_token": foreign}), 403)
    wrong_provider = APPLE.token(sub=sub)
    assert_problem(erase(client, headers, {"provider": "google", "id_token": wrong_provider}), 401)
    assert_problem(erase(client, headers, {"provider": "google", "id_token": "x.y.z"}), 401)
    assert_problem(erase(client, headers, {"password": "no-password-here"}), 403)
    assert me(client, social["tokens"]).status_code == 200  # nothing was erased


def test_an_account_with_a_password_may_also_confirm_with_a_provider(client: Client) -> None:
    account = register(client)
    claims = GOOGLE.claims()
    assert link(client, account.headers, "google", GOOGLE.sign(claims)).status_code == 201
    fresh = GOOGLE.token(sub=claims["sub"])
    assert (
        erase(client, account.headers, {"provider": "google", "id_token": fresh}).status_code == 204
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"password": "x", "provider": "google", "id_token": "t"},
        {"provider": "google"},
        {"id_token": "t"},
        {"nonce": "n"},
        {"password": "x", "nonce": "n"},
        {"provider": None, "id_token": "t"},
        {"provider": "password", "id_token": "t"},
    ],
)
def test_erasure_takes_one_way_of_confirming(client: Client, body: dict[str, Any]) -> None:
    account = register(client)
    assert_problem(erase(client, account.headers, body), 422)
    assert client.get("/v1/users/me", headers=account.headers).status_code == 200


# --- the statement budget and the documents ---------------------------------------------------


def test_every_identity_route_runs_at_most_three_statements(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="common.http")
    social = google_account(client)  # 201
    claims, headers = social["claims"], bearer(social["tokens"])
    google(client, GOOGLE.sign(claims))  # 200
    google(client, "not-a-token")  # 401
    google(client, GOOGLE.token(email=register(client).email))  # 409
    token, nonce = apple_token()
    apple(client, token, nonce)  # 201
    apple(client, token, "wrong")  # 401
    identities_of(client, headers)  # 200
    token, nonce = apple_token()
    link(client, headers, "apple", token, nonce=nonce)  # 201
    link(client, headers, "apple", token, nonce=nonce)  # 200
    link(client, headers, "apple", apple_token()[0])  # 401
    link(client, headers, "google", GOOGLE.token())  # 409
    unlink(client, headers, "apple")  # 204
    unlink(client, headers, "google")  # 409
    set_password(client, headers, strong_password())  # 200
    set_password(client, headers, strong_password())  # 422
    fresh = GOOGLE.token(sub=claims["sub"])
    erase(client, headers, {"provider": "google", "id_token": GOOGLE.token()})  # 403
    erase(client, headers, {"provider": "google", "id_token": fresh})  # 204
    seen: dict[tuple[str, int], int] = {}
    for record in caplog.records:
        if hasattr(record, "db_queries") and record.route:
            key = (record.route, record.status)
            seen[key] = max(seen.get(key, 0), record.db_queries)
    assert {route for route, _ in seen} >= {
        "/v1/auth/google",
        "/v1/auth/apple",
        "/v1/auth/identities",
        "/v1/auth/identities/<any(password, google, apple):provider>",
        "/v1/auth/password",
        "/v1/users/me",
    }
    assert {status for _, status in seen} >= {200, 201, 204, 401, 403, 409, 422}
    assert all(count <= 3 for count in seen.values()), seen


def test_the_openapi_document_describes_the_identity_routes(client: Client) -> None:
    paths = client.get("/v1/auth/openapi.json").get_json()["paths"]
    sign_in = paths["/v1/auth/google"]["post"]
    assert {"200", "201", "401", "409", "429", "422"} <= set(sign_in["responses"])
    assert sign_in["responses"]["201"]["headers"]["Location"]["required"] is True
    assert sign_in["security"] == []
    assert {"200", "201", "401", "409"} <= set(paths["/v1/auth/apple"]["post"]["responses"])
    linking = paths["/v1/auth/identities"]["post"]
    assert {"200", "201", "401", "409", "422"} <= set(linking["responses"])
    assert linking["security"] == [{"bearer": []}]
    assert "200" in paths["/v1/auth/identities"]["get"]["responses"]
    removal = paths["/v1/auth/identities/{provider}"]["delete"]
    assert {"204", "401", "404", "409"} <= set(removal["responses"])
    (provider,) = [p for p in removal["parameters"] if p["in"] == "path"]
    assert provider["schema"] == {"type": "string", "enum": ["password", "google", "apple"]}
    assert "409" in paths["/v1/auth/password"]["post"]["responses"]
    users = client.get("/v1/users/openapi.json").get_json()
    erasure = users["components"]["schemas"]["AccountDelete"]
    assert set(erasure["properties"]) == {"password", "provider", "id_token", "nonce"}
    assert len(erasure["oneOf"]) == 2
