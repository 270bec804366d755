"""How long a fetched key set stays fresh (common.auth.providers.freshness), from the
response's Cache-Control and Age, within the cache's bounds."""

from __future__ import annotations

from email.message import Message

import pytest

from common.auth.providers import (
    DEFAULT_FRESHNESS_S,
    MAX_FRESHNESS_S,
    REFETCH_INTERVAL_S,
    freshness,
    nonce_digest,
)

pytestmark = pytest.mark.unit


def headers(*pairs: tuple[str, str]) -> Message:
    message = Message()
    for name, value in pairs:
        message[name] = value
    return message


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        # Google's answer, give or take its numbers
        ([("Cache-Control", "public, max-age=19506, must-revalidate, no-transform")], 19506),
        ([("Cache-Control", "public, max-age=19506"), ("Age", "506")], 19000),
        ([("Cache-Control", "MAX-AGE=600")], 600),  # directive names ignore case
        ([("Cache-Control", 'max-age="600"')], 600),  # a quoted value (RFC 9111 allows it)
        ([("Cache-Control", "public"), ("Cache-Control", "max-age=900")], 900),  # two headers
        ([("Cache-Control", "max-age=600, no-store")], REFETCH_INTERVAL_S),
        ([("Cache-Control", "no-cache")], REFETCH_INTERVAL_S),
        ([("Cache-Control", "max-age=5")], REFETCH_INTERVAL_S),  # never below the interval
        ([("Cache-Control", "max-age=600"), ("Age", "9000")], REFETCH_INTERVAL_S),
        ([("Cache-Control", "max-age=99999999")], MAX_FRESHNESS_S),  # never above a day
        ([("Cache-Control", "max-age=-5")], DEFAULT_FRESHNESS_S),  # not a delta-seconds
        ([("Cache-Control", "max-age=soon")], DEFAULT_FRESHNESS_S),
        ([("Cache-Control", "max-age=600"), ("Age", "old")], 600),  # a bad Age is ignored
        ([], DEFAULT_FRESHNESS_S),  # no Cache-Control at all
    ],
)
def test_freshness_follows_cache_control(given: list[tuple[str, str]], seconds: float) -> None:
    assert freshness(headers(*given)) == seconds


def test_the_nonce_digest_is_sha256_hex() -> None:
    # echo -n abc | sha256sum
    assert nonce_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
