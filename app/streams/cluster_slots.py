"""Which Redis Cluster master holds a key's slot, for the producer's own connections.

The script connections (app.streams.script_connection) write RESP themselves, so they
route themselves too: CLUSTER SLOTS, asked of any node known (the URL's seed first, then
every node the last answer named), maps each slot range to its master. The map is asked
for again after a MOVED reply or a connection error, which is how a failover (a replica
promoted) reaches them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

Address = tuple[str, int]
# Asks one node for CLUSTER SLOTS (the connection's own handshake: TLS, AUTH).
AskNode = Callable[[Address], Awaitable[Any]]

ASK_TIMEOUT_S = 1.0


class ClusterSlots:
    def __init__(self, seed: Address) -> None:
        self._known: list[Address] = [seed]
        self._ranges: list[tuple[int, int, Address]] = []

    @property
    def stale(self) -> bool:
        return not self._ranges

    def forget(self) -> None:
        """Ask for the map again before the next routing (after MOVED, or an error)."""
        self._ranges = []

    def node_for(self, key: bytes) -> Address | None:
        slot = key_slot(key)
        for start, end, address in self._ranges:
            if start <= slot <= end:
                return address
        return None

    async def refresh(self, ask: AskNode) -> None:
        errors: list[str] = []
        for address in list(self._known):
            try:
                reply = await asyncio.wait_for(ask(address), ASK_TIMEOUT_S)
            except (OSError, TimeoutError, RedisConnectionError) as exc:
                errors.append(f"{address[0]}:{address[1]}: {exc or type(exc).__name__}")
                continue
            ranges = _ranges(reply, address[0])
            if not ranges:
                errors.append(f"{address[0]}:{address[1]}: no slots served")
                continue
            self._ranges = ranges
            masters = [a for _, _, a in ranges]
            replicas = [_address(node, address[0]) for entry in reply for node in entry[3:]]
            self._known = list(dict.fromkeys([*masters, *replicas, *self._known]))
            return
        raise RedisConnectionError("no Redis Cluster node answered: " + "; ".join(errors))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _address(node: Any, fallback_host: str) -> Address:
    host = _text(node[0])
    return (host if host and host != "?" else fallback_host), int(node[1])


def _ranges(reply: Any, fallback_host: str) -> list[tuple[int, int, Address]]:
    return [
        (int(entry[0]), int(entry[1]), _address(entry[2], fallback_host))
        for entry in reply or []
        if len(entry) >= 3
    ]
