"""The clicks stream's handler: decode, enrich, mark unique, store.

A batch PostgreSQL refuses is not split here: the stream consumer retries it entry by
entry (app.streams.consumer), so a bad click is dead-lettered with its own error.
"""

from __future__ import annotations

from redis.asyncio import Redis

from app.clicks import enrich, store
from app.db import Pool
from app.streams.consumer import Entry
from app.streams.outcome import BatchOutcome
from app.streams.records import PoisonRecord


class ClickHandler:
    def __init__(self, pool: Pool, redis: Redis) -> None:
        self._writer = store.ClickWriter(pool)
        self._redis = redis

    async def start(self) -> None:
        enrich.warm_up()

    async def handle(self, entries: list[Entry]) -> BatchOutcome:
        """Every entry is stored (a new row, or one already there) but the poison ones,
        listed with their error."""
        outcome = BatchOutcome()
        clicks: list[store.Click] = []
        for entry_id, raw in entries:
            try:
                clicks.append(store.decode(raw))
            except PoisonRecord as exc:
                outcome.poison.append((entry_id, str(exc)))
        await store.mark_unique(self._redis, clicks)
        outcome.inserted = await self._writer.write(clicks)
        return outcome
