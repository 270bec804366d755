"""The address of the client behind a request, as far as our own proxies vouch for it.

Used for the per-address login throttle, so it must not be something the client can choose.

Production path: client -> Cloudflare -> Google external Application Load Balancer -> function.

- Cloudflare appends the address that connected to it (the client) to whatever
  `X-Forwarded-For` the client sent, or creates the header with it.
- The load balancer appends `<immediate client>, <forwarding rule address>`: here Cloudflare's
  egress address and the load balancer's own.

So a function sees `X-Forwarded-For: <anything the client wrote>, <client>, <cloudflare>,
<load balancer>`, and the client is the **third entry from the right**. Entries to its left are
whatever the client chose to send and are never read; entries to its right were written by
the load balancer. Nothing can skip these hops: Cloud Armor admits only Cloudflare's ranges at
the load balancer, and the functions' ingress (`ALLOW_INTERNAL_AND_GCLB`) refuses direct calls
from the internet. (Cloudflare's `CF-Connecting-IP` carries the same address; we read the
load balancer's header so the rule does not depend on which CDN is in front.)

Setting `CLIENT_IP_XFF_POSITION` (int, 0-16, default 3): which `X-Forwarded-For` entry,
counted from the right (1 = the last), holds the client. Without Cloudflare in front it would
be 2; 0 ignores the header and uses the socket peer. A request whose header has fewer entries
than that did not come through the edge (an internal call, a local run, a test): the socket
peer is used. A malformed entry at the trusted position also falls back to the socket peer.

IPv6 clients usually control a whole /64 (one home or phone gets one), so an IPv6 address
counts as its /64 network; an IPv4-mapped IPv6 address counts as the IPv4 address.
"""

from __future__ import annotations

import ipaddress

import flask

from common.config import get_settings


def xff_position() -> int:
    """The configured position of the client's entry, counted from the right (0: none)."""
    return get_settings().client_ip_xff_position


def client_address(request: flask.Request) -> str | None:
    """The client's address (an IPv6 client's /64 network), or None when it is unknown."""
    position = xff_position()
    if position:
        entries = [
            entry.strip()
            for header in request.headers.getlist("X-Forwarded-For")
            for entry in header.split(",")
        ]
        if len(entries) >= position:
            found = _normalise(entries[-position])
            if found is not None:
                return found
    return _normalise(request.remote_addr or "")


def _normalise(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
