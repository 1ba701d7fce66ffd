"""Refuse to send to addresses inside our own network.

The host is resolved once and every address checked; the request then goes to the
checked address (Host header and TLS name kept), so a second resolution cannot swap
in an internal address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The well-known NAT64 prefix: a gateway turns 64:ff9b::a.b.c.d into a.b.c.d.
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# A save must not hang on a slow resolver; the sender checks again at every send.
SAVE_RESOLVE_TIMEOUT_S = 2.0


class RefusedAddress(Exception):
    pass


class UnresolvedHost(RefusedAddress):
    """The name has no address now: unlike a refused address, DNS may be fixed later."""


def parse_networks(networks: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(n, strict=False) for n in networks]


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64)."""
    found: list[ipaddress.IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
    return found


def _refused(address: IPAddress) -> bool:
    # is_global is False for loopback, RFC 1918, link-local (169.254/16, the cloud
    # metadata address), CGNAT 100.64/10, 0.0.0.0/8, ULA and documentation ranges;
    # multicast and reserved ranges count as global there, so they are checked apart.
    return not address.is_global or address.is_multicast or address.is_reserved


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if address.ipv4_mapped is not None:
            # The socket really talks IPv4 to the mapped address: judge that alone.
            address = address.ipv4_mapped
        else:
            for inner in embedded:
                check_address(inner, allowed)
    if any(address in net for net in allowed):
        return
    if _refused(address):
        raise RefusedAddress(f"{address} is not a public address")


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def checked_literal(host: str, allowed: Sequence[IPNetwork]) -> str | None:
    """The address of a host that is an IP literal, checked (RefusedAddress when it is
    not allowed); None for a name, which only a resolution can check."""
    literal = _literal(host)
    if literal is None:
        return None
    check_address(literal, allowed)
    return str(literal)


async def resolve_public(host: str, port: int, allowed: Sequence[IPNetwork]) -> str:
    """The first address of `host`, after checking that every address is allowed."""
    literal = checked_literal(host, allowed)
    if literal is not None:
        return literal
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(f"cannot resolve {host}: {exc}") from None
    # getaddrinfo also reads forms such as "2130706433" or "0x7f.1"; its answer is checked.
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnresolvedHost(f"{host} has no address")
    for address in addresses:
        check_address(address, allowed)
    return str(addresses[0])


async def check_saved_url(url: str, allowed: Sequence[IPNetwork]) -> None:
    """Refuse a URL, when it is saved, whose host is or resolves to a refused address.

    A name that does not resolve (yet) is accepted: DNS may be set up after the URL, and
    the sender checks the address again before every request.
    """
    host = urlsplit(url).hostname
    if not host:
        return
    literal = _literal(host)
    if literal is not None:
        check_address(literal, allowed)
        return
    try:
        async with asyncio.timeout(SAVE_RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
    except (TimeoutError, socket.gaierror, UnicodeError):
        return
    for info in infos:
        check_address(ipaddress.ip_address(info[4][0]), allowed)
