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

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class RefusedAddress(Exception):
    pass


def parse_networks(networks: Sequence[str]) -> list[IPNetwork]:
    return [ipaddress.ip_network(n, strict=False) for n in networks]


def check_address(address: IPAddress, allowed: Sequence[IPNetwork]) -> None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in allowed):
        return
    if not address.is_global or address.is_multicast or address.is_reserved:
        raise RefusedAddress(f"{address} is not a public address")


async def resolve_public(host: str, port: int, allowed: Sequence[IPNetwork]) -> str:
    """The first address of `host`, after checking that every address is allowed."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        check_address(literal, allowed)
        return str(literal)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedAddress(f"cannot resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise RefusedAddress(f"{host} has no address")
    for address in addresses:
        check_address(address, allowed)
    return str(addresses[0])
