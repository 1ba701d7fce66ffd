"""Which long-running processes are alive: each writes a key with a TTL while it runs.

A process that dies stops renewing its key, which then expires; /ready counts the keys.
"""

from __future__ import annotations

import os
import socket

from redis.asyncio import Redis


def _key(role: str) -> str:
    return f"health:{role}:{socket.gethostname()}:{os.getpid()}"


async def beat(redis: Redis, role: str, ttl_s: float = 10) -> None:
    """Say this process (of `role`: worker, sender) is alive for the next `ttl_s`."""
    await redis.set(_key(role), b"1", px=max(1, int(ttl_s * 1000)))


async def alive(redis: Redis, role: str) -> int:
    """How many processes of `role` have beaten within their TTL."""
    count = 0
    async for _ in redis.scan_iter(match=f"health:{role}:*", count=1000):
        count += 1
    return count
