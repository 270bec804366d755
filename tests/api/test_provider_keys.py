"""The providers' keys as a sign-in uses them (common.auth.providers.ProviderKeys): fetched
from the stand-in endpoints over real HTTP, cached per process as `Cache-Control` allows,
fetched again for a new `kid` once, and never more than once per interval however many bad
tokens arrive.

Time is the key cache's clock, set by each test (`clock`): nothing waits. The stand-ins count
the fetches they answer, so each assertion is on what reached the network.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.test import Client

from common.auth import providers
from common.auth.providers import MAX_FRESHNESS_S, REFETCH_INTERVAL_S
from tests.api.helpers import assert_problem
from tests.identity_providers import (
    APPLE,
    GOOGLE,
    RsaKey,
    StandIn,
    hs256_token,
    nonce_pair,
    unsigned_token,
)
from tests.servers import ROOT, function_process

pytestmark = pytest.mark.api


class Clock:
    """The key cache's time, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    """Both key caches on a test clock, cold (nothing fetched yet); afterwards forgotten again
    and both stand-ins back to their base key sets."""
    clock = Clock()
    caches = [providers.provider_keys("google"), providers.provider_keys("apple")]
    for cache in caches:
        cache.forget()
        monkeypatch.setattr(cache, "clock", clock)
    yield clock
    for cache in caches:
        cache.forget()
    for stand_in in (GOOGLE, APPLE):
        stand_in.reset()


def sign_in(client: Client, stand_in: StandIn, token: str | None = None, **claims: Any) -> Any:
    if stand_in is GOOGLE:
        return client.post("/v1/auth/google", json={"id_token": token or GOOGLE.token(**claims)})
    nonce, digest = nonce_pair()
    token = token or APPLE.token(nonce=digest, **claims)
    return client.post("/v1/auth/apple", json={"id_token": token, "nonce": nonce})


def fetches(stand_in: StandIn, since: int) -> int:
    return stand_in.server.fetches - since


BOTH = pytest.mark.parametrize("stand_in", [GOOGLE, APPLE], ids=["google", "apple"])


@BOTH
def test_several_sign_ins_fetch_the_keys_once(
    client: Client, clock: Clock, stand_in: StandIn
) -> None:
    start = stand_in.server.fetches
    for _ in range(5):
        assert sign_in(client, stand_in).status_code == 201
        clock.advance(600)
    assert fetches(stand_in, start) == 1  # fresh for max-age=21600


@BOTH
def test_max_age_less_age_says_how_long_keys_stay_fresh(
    client: Client, clock: Clock, stand_in: StandIn
) -> None:
    stand_in.server.serve([stand_in.key.jwk], cache_control="public, max-age=600", age="100")
    start = stand_in.server.fetches
    assert sign_in(client, stand_in).status_code == 201
    clock.advance(499)  # 600 - 100: still fresh
    assert sign_in(client, stand_in).status_code == 201
    assert fetches(stand_in, start) == 1
    clock.advance(1)  # stale: the next sign-in fetches
    assert sign_in(client, stand_in).status_code == 201
    assert sign_in(client, stand_in).status_code == 201
    assert fetches(stand_in, start) == 2


@pytest.mark.parametrize("cache_control", ["no-store", "no-cache", "max-age=0", None])
def test_keys_that_may_not_be_kept_are_fetched_at_most_once_per_interval(
    client: Client, clock: Clock, cache_control: str | None
) -> None:
    GOOGLE.server.serve([GOOGLE.key.jwk], cache_control=cache_control)
    start = GOOGLE.server.fetches
    assert sign_in(client, GOOGLE).status_code == 201
    clock.advance(REFETCH_INTERVAL_S - 1)
    assert sign_in(client, GOOGLE).status_code == 201
    assert fetches(GOOGLE, start) == 1  # the floor: a flood of sign-ins is not a flood of GETs
    clock.advance(providers.DEFAULT_FRESHNESS_S if cache_control is None else 1)
    assert sign_in(client, GOOGLE).status_code == 201
    assert fetches(GOOGLE, start) == 2


def test_a_huge_max_age_is_capped_at_a_day(client: Client, clock: Clock) -> None:
    GOOGLE.server.serve([GOOGLE.key.jwk], cache_control="max-age=31536000")
    start = GOOGLE.server.fetches
    assert sign_in(client, GOOGLE).status_code == 201
    clock.advance(MAX_FRESHNESS_S)
    assert sign_in(client, GOOGLE).status_code == 201
    assert fetches(GOOGLE, start) == 2


@BOTH
def test_a_rotated_key_is_fetched_once(client: Client, clock: Clock, stand_in: StandIn) -> None:
    start = stand_in.server.fetches
    assert sign_in(client, stand_in).status_code == 201  # the first fetch: the old key only
    new = RsaKey.new()
    stand_in.server.serve([stand_in.key.jwk, new.jwk])  # the provider publishes a new key
    clock.advance(REFETCH_INTERVAL_S)
    for _ in range(3):
        nonce, digest = nonce_pair()
        token = stand_in.sign(stand_in.claims(nonce=digest), key=new)
        response = (
            sign_in(client, GOOGLE, token)
            if stand_in is GOOGLE
            else client.post("/v1/auth/apple", json={"id_token": token, "nonce": nonce})
        )
        assert response.status_code == 201, response.get_data(as_text=True)
    assert sign_in(client, stand_in).status_code == 201  # the old key still signs in
    assert fetches(stand_in, start) == 2  # the new kid was fetched once, then cached


def test_a_new_kid_right_after_a_fetch_waits_for_the_interval(client: Client, clock: Clock) -> None:
    start = GOOGLE.server.fetches
    assert sign_in(client, GOOGLE).status_code == 201
    new = RsaKey.new()
    GOOGLE.server.serve([GOOGLE.key.jwk, new.jwk])
    token = GOOGLE.sign(GOOGLE.claims(), key=new)
    clock.advance(REFETCH_INTERVAL_S - 1)
    body = assert_problem(sign_in(client, GOOGLE, token), 401)  # no fetch within the interval
    assert "does not publish" in body["detail"]
    assert fetches(GOOGLE, start) == 1
    clock.advance(1)
    assert sign_in(client, GOOGLE, token).status_code == 201
    assert fetches(GOOGLE, start) == 2


def test_a_flood_of_garbage_kids_costs_one_fetch_per_interval(client: Client, clock: Clock) -> None:
    assert sign_in(client, GOOGLE).status_code == 201  # keys cached
    start = GOOGLE.server.fetches
    stranger = RsaKey.new()
    for minute in range(3):
        for _ in range(50):
            token = GOOGLE.sign(GOOGLE.claims(), key=stranger, kid=secrets.token_hex(8))
            assert_problem(sign_in(client, GOOGLE, token), 401)
            clock.advance(1)  # 50 tokens over 50 s: at most two intervals
        assert fetches(GOOGLE, start) <= 2 * (minute + 1)
    # 150 unknown kids over 150 s after a fetch: one fetch each 30 s (at 30, 60, 90, 120 s)
    assert fetches(GOOGLE, start) == 4
    assert sign_in(client, GOOGLE).status_code == 201  # the real key still works


def test_tokens_refused_before_the_key_lookup_fetch_nothing(client: Client, clock: Clock) -> None:
    start = GOOGLE.server.fetches
    hs256 = hs256_token(GOOGLE.key.public_pem, {"alg": "HS256", "kid": "k"}, GOOGLE.claims())
    none = unsigned_token({"alg": "none", "kid": "k"}, GOOGLE.claims())
    for token in ("a.b.c", "not-a-token", hs256, none):
        assert_problem(sign_in(client, GOOGLE, token), 401)
    assert fetches(GOOGLE, start) == 0  # the cache is cold, and stays so


def test_an_unreachable_key_endpoint_is_503_and_retried_once_per_interval(
    client: Client, clock: Clock
) -> None:
    GOOGLE.server.serve([], status=500)
    start = GOOGLE.server.fetches
    first = sign_in(client, GOOGLE)
    assert_problem(first, 503)
    assert int(first.headers["Retry-After"]) == REFETCH_INTERVAL_S
    clock.advance(10)
    second = sign_in(client, GOOGLE)
    assert_problem(second, 503)
    assert int(second.headers["Retry-After"]) == REFETCH_INTERVAL_S - 10
    assert fetches(GOOGLE, start) == 1  # the second did not try again within the interval
    GOOGLE.reset()
    clock.advance(REFETCH_INTERVAL_S - 10)
    assert sign_in(client, GOOGLE).status_code == 201
    assert fetches(GOOGLE, start) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"keys": []},  # an empty set
        {"keys": [{"kty": "EC", "crv": "P-256", "x": "bad", "y": "bad"}]},  # no usable key
    ],
)
def test_a_useless_key_set_is_not_trusted(
    client: Client, clock: Clock, answer: dict[str, Any]
) -> None:
    GOOGLE.server.serve(answer["keys"])
    assert_problem(sign_in(client, GOOGLE), 503)


@pytest.mark.parametrize(
    "answer",
    [
        {"raw": b"<html>maintenance</html>"},  # not JSON
        {"raw": b"[]"},  # JSON, not a key set
        {"raw": b'{"keys": [' + b'{"kty": "RSA"},' * 20_000 + b"{}]}"},  # over 256 KiB
    ],
    ids=["html", "a list", "too big"],
)
def test_an_answer_that_is_no_key_set_is_not_trusted(
    client: Client, clock: Clock, answer: dict[str, Any]
) -> None:
    GOOGLE.server.serve([GOOGLE.key.jwk], **answer)
    assert_problem(sign_in(client, GOOGLE), 503)


def test_a_redirect_is_not_followed(client: Client, clock: Clock) -> None:
    # the key URL is the configured one: a redirect elsewhere (here to Apple's stand-in,
    # which would answer with a key set) is a failed fetch
    GOOGLE.server.serve([], status=302, location=APPLE.server.url)
    apple_fetches = APPLE.server.fetches
    assert_problem(sign_in(client, GOOGLE), 503)
    assert APPLE.server.fetches == apple_fetches


def test_a_key_the_provider_withdrew_stops_working_when_the_keys_go_stale(
    client: Client, clock: Clock
) -> None:
    old = GOOGLE.key
    assert sign_in(client, GOOGLE).status_code == 201
    new = RsaKey.new()
    GOOGLE.server.serve([new.jwk], cache_control="max-age=3600")
    clock.advance(21_600)  # the first set's max-age
    assert_problem(sign_in(client, GOOGLE, GOOGLE.sign(GOOGLE.claims(), key=old)), 401)
    assert sign_in(client, GOOGLE, GOOGLE.sign(GOOGLE.claims(), key=new)).status_code == 201


def test_only_rsa_keys_for_rs256_are_used(client: Client, clock: Clock) -> None:
    # a set whose entry under the token's kid is declared for another algorithm
    entry = {**GOOGLE.key.jwk, "alg": "RS512"}
    GOOGLE.server.serve([entry])
    assert_problem(sign_in(client, GOOGLE), 401)


def test_each_provider_has_its_own_keys(client: Client, clock: Clock) -> None:
    # a Google token signed with Apple's key (and its kid) is not Google's
    token = GOOGLE.sign(GOOGLE.claims(), key=APPLE.key)
    assert_problem(sign_in(client, GOOGLE, token), 401)


def test_without_client_ids_every_token_is_refused_and_nothing_is_fetched() -> None:
    # a deployment that has not configured a provider: its own process, its own settings
    env = {"GOOGLE_CLIENT_IDS": "", "APPLE_CLIENT_IDS": ""}
    source = ROOT / "functions" / "auth" / "main.py"
    start = GOOGLE.server.fetches, APPLE.server.fetches
    with function_process(source, "auth", env, wait_path="/v1/auth/health") as base:
        nonce, digest = nonce_pair()
        for path, body in (
            ("/v1/auth/google", {"id_token": GOOGLE.token()}),
            ("/v1/auth/apple", {"id_token": APPLE.token(nonce=digest), "nonce": nonce}),
        ):
            request = urllib.request.Request(
                base + path,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
            assert "is not configured here" in json.loads(refused.value.read())["detail"]
    assert (GOOGLE.server.fetches, APPLE.server.fetches) == start
