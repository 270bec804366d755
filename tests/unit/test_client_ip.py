"""Which X-Forwarded-For entry is the client (common.auth.client_ip)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Request
from werkzeug.test import EnvironBuilder

from common.auth import client_ip
from common.auth.client_ip import client_address
from common.config import get_settings

pytestmark = pytest.mark.unit


SETTING = "CLIENT_IP_XFF_POSITION"


@pytest.fixture(autouse=True)
def fresh_setting() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def request(*forwarded: str, peer: str | None = "35.191.0.9") -> Request:
    headers = [("X-Forwarded-For", value) for value in forwarded]
    environ = EnvironBuilder(headers=headers, environ_base={"REMOTE_ADDR": peer}).get_environ()
    return Request(environ)


def test_the_default_trusts_the_third_entry_from_the_right() -> None:
    assert client_ip.xff_position() == 3
    # <client-supplied>, <client (by Cloudflare)>, <Cloudflare (by the LB)>, <LB (by the LB)>
    forwarded = "6.6.6.6, 1.2.3.4, 172.70.1.1, 34.120.0.1"
    assert client_address(request(forwarded)) == "1.2.3.4"


def test_client_supplied_entries_cannot_move_the_trusted_one() -> None:
    forged = "9.9.9.9, 8.8.8.8, 7.7.7.7, 1.2.3.4, 172.70.1.1, 34.120.0.1"
    assert client_address(request(forged)) == "1.2.3.4"


def test_several_header_lines_are_one_list() -> None:
    assert client_address(request("6.6.6.6", "1.2.3.4, 172.70.1.1", "34.120.0.1")) == "1.2.3.4"


@pytest.mark.parametrize("forwarded", [None, "1.2.3.4", "1.2.3.4, 34.120.0.1"])
def test_too_few_entries_fall_back_to_the_socket_peer(forwarded: str | None) -> None:
    given = () if forwarded is None else (forwarded,)
    assert client_address(request(*given)) == "35.191.0.9"


def test_a_malformed_trusted_entry_falls_back_to_the_socket_peer() -> None:
    assert client_address(request("x, not-an-ip, 172.70.1.1, 34.120.0.1")) == "35.191.0.9"


def test_no_address_at_all_is_none() -> None:
    assert client_address(request(peer=None)) is None


def test_ipv6_clients_count_as_their_64() -> None:
    forwarded = "2001:db8:1:2:aaaa::1, 172.70.1.1, 34.120.0.1"
    other_host = "2001:db8:1:2:bbbb::9, 172.70.1.1, 34.120.0.1"
    assert client_address(request(forwarded)) == "2001:db8:1:2::/64"
    assert client_address(request(other_host)) == "2001:db8:1:2::/64"


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    assert client_address(request("::ffff:1.2.3.4, 172.70.1.1, 34.120.0.1")) == "1.2.3.4"


@pytest.mark.parametrize(("value", "expected"), [("0", "35.191.0.9"), ("2", "172.70.1.1")])
def test_the_position_is_configurable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv(SETTING, value)
    assert client_address(request("1.2.3.4, 172.70.1.1, 34.120.0.1")) == expected


@pytest.mark.parametrize("value", ["-1", "three", "17", ""])
def test_a_bad_setting_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(SETTING, value)
    with pytest.raises(ValueError, match="client_ip_xff_position"):
        client_ip.xff_position()
