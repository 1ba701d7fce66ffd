"""Which long-running processes are alive, as arq's worker tells it: each writes a key
with a TTL and refreshes it from its loop; a key that lapses is a process gone.

`health:{<role>}:<host>:<pid>` holds a line about the process; the set `health:{<role>}`
lists the keys, so `alive` needs no SCAN over the keyspace (and, one hash tag per role,
every key of a role is in one Redis Cluster slot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import signals

logger = logging.getLogger(__name__)

TTL_S = 5  # a process silent this long is gone
BEAT_S = 1.0


def _index(role: str) -> str:
    return f"health:{{{role}}}"


def key(role: str) -> str:
    return f"{_index(role)}:{socket.gethostname()}:{os.getpid()}"


async def beat(redis: Redis, role: str, *, info: str = "alive", ttl_s: int = TTL_S) -> None:
    """This process is alive for `ttl_s` more seconds."""
    name = key(role)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(name, info, ex=ttl_s)
        pipe.sadd(_index(role), name)
        await pipe.execute()


async def retire(redis: Redis, role: str) -> None:
    """This process stops: it is not counted from now on, not only once its key lapses."""
    name = key(role)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(name)
        pipe.srem(_index(role), name)
        await pipe.execute()


async def alive(redis: Redis, role: str) -> int:
    """How many processes of `role` have beaten within their TTL."""
    names = list(await redis.smembers(_index(role)))
    if not names:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for name in names:
            pipe.exists(name)
        found = await pipe.execute()
    gone = [name for name, exists in zip(names, found, strict=True) if not exists]
    if gone:
        await redis.srem(_index(role), *gone)
    return len(names) - len(gone)


@contextlib.asynccontextmanager
async def heartbeat(
    redis: Redis, role: str, *, info: Callable[[], str] = lambda: "alive"
) -> AsyncIterator[None]:
    """Beat once now and then every BEAT_S while the block runs; retire at its end.

    A Redis that is down or slow costs a warning, never the process's work.
    """

    failing = False

    async def once() -> None:
        nonlocal failing
        try:
            async with asyncio.timeout(BEAT_S):
                await beat(redis, role, info=info())
        except (RedisError, OSError, TimeoutError) as exc:
            if not failing:  # once per outage, not every beat
                logger.warning("%s health key not written: %s", role, exc)
            failing = True
        else:
            failing = False

    async def loop() -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            await once()

    await once()
    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        await signals.cancel(task)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(BEAT_S):
                await retire(redis, role)
