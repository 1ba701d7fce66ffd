"""IP_ANONYMIZE: keep an IPv4 address's /24 and an IPv6 address's /48, nothing finer.

The kept form is the network with its prefix (`203.0.113.0/24`, `2001:db8:1::/48`), so a
stored value says itself that it was truncated, and PostgreSQL's `inet` stores it as is.
Country lookups read the network address: registries delegate IPv4 in blocks of /24 or
larger and IPv6 in /48 or larger, so a /24's or /48's addresses all share one country
(tests/privacy/test_anonymize.py checks this against the lookup table in use).
"""

from __future__ import annotations

import socket

IPV4_PREFIX = 24
IPV6_PREFIX = 48
_MAPPED = b"\0" * 10 + b"\xff\xff"


def truncate(ip: str) -> str:
    """The /24 or /48 holding `ip` (an IPv4-mapped IPv6 address counts as IPv4); text
    that is not an address becomes empty, as there is nothing to keep of it.

    On the redirect's hot path: the C parser and printer of the socket module take about
    a microsecond where `ipaddress` takes twenty.
    """
    try:
        if ":" not in ip:
            packed = socket.inet_pton(socket.AF_INET, ip)
            return f"{socket.inet_ntop(socket.AF_INET, packed[:3] + bytes(1))}/{IPV4_PREFIX}"
        packed = socket.inet_pton(socket.AF_INET6, ip)
    except OSError:
        return ""
    if packed[:12] == _MAPPED:
        return f"{socket.inet_ntop(socket.AF_INET, packed[12:15] + bytes(1))}/{IPV4_PREFIX}"
    return f"{socket.inet_ntop(socket.AF_INET6, packed[:6] + bytes(10))}/{IPV6_PREFIX}"


def lookup_address(stored: str) -> str:
    """The address a stored IP (an address, or a network kept by `truncate`) is looked
    up by: the network's first address."""
    return stored.split("/", 1)[0]
