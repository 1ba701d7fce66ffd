"""Counters summed over every process, kept in Redis hashes.

Each process adds to local integers (a dict update on the hot path) and a task adds
the deltas to a Redis hash once a second, so /metrics on any web process, and
`tracker stats pipeline`, see the whole fleet's totals, whatever process served what.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import signals

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0


class SharedCounters:
    def __init__(self, redis: Redis, key: str) -> None:
        self._redis = redis
        self.key = key
        self.values: dict[str, int] = {}
        self._flushed: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def inc(self, name: str, amount: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + amount

    async def flush(self) -> None:
        deltas = {k: v - self._flushed.get(k, 0) for k, v in self.values.items()}
        deltas = {k: d for k, d in deltas.items() if d}
        if not deltas:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, delta in deltas.items():
                pipe.hincrby(self.key, name, delta)
            await pipe.execute()
        for name, delta in deltas.items():
            self._flushed[name] = self._flushed.get(name, 0) + delta

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name=f"counters-{self.key}")

    async def stop(self) -> None:
        await signals.cancel(self._task)
        with contextlib.suppress(RedisError, OSError):
            await self.flush()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            try:
                await self.flush()
            except (RedisError, OSError) as exc:
                # Deltas stay local and go out with the next successful flush.
                logger.debug("counter flush deferred: %s", exc)
