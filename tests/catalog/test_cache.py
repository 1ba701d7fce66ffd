"""The catalog caches' watcher while PostgreSQL is out of reach: it keeps serving what it
has and says so in one line, without a traceback, until a refresh works again."""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import pytest
from redis.asyncio import Redis

from app.catalog.cache import CatalogCache


class FlakyCache(CatalogCache):
    """Its reloads fail while `down`; every try is counted and can be waited for."""

    def __init__(self, pool: asyncpg.Pool, redis: Redis) -> None:
        # ttl_s=0: every tick reloads, so every tick meets the outage.
        super().__init__(pool, redis, poll_s=0.001, ttl_s=0)
        self.down = False
        self.tries = 0
        self.wanted = 0
        self.reached = asyncio.Event()

    def wait_for(self, tries: int) -> asyncio.Event:
        self.wanted, self.reached = tries, asyncio.Event()
        return self.reached

    async def _reload(self) -> None:
        self.tries += 1
        if self.tries >= self.wanted:
            self.reached.set()
        if self.down:
            raise asyncpg.CannotConnectNowError("the database system is shutting down")


async def test_an_outage_is_one_line_and_its_end_another(
    pool: asyncpg.Pool, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FlakyCache(pool, redis)
    await cache.start()
    try:
        caplog.set_level(logging.INFO, logger="app.catalog.cache")
        cache.down = True
        await cache.wait_for(cache.tries + 5).wait()
        cache.down = False
        await cache.wait_for(cache.tries + 2).wait()
    finally:
        await cache.stop()

    lines = [r for r in caplog.records if r.name == "app.catalog.cache"]
    assert [r.levelno for r in lines] == [logging.WARNING, logging.INFO], [
        r.getMessage() for r in lines
    ]
    assert all(r.exc_info is None for r in lines)
    assert "waits for PostgreSQL" in lines[0].getMessage()
    assert "works again" in lines[1].getMessage()


async def test_a_fault_that_is_not_an_outage_keeps_its_traceback(
    pool: asyncpg.Pool, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenCache(FlakyCache):
        async def _reload(self) -> None:
            await super()._reload()
            if self.tries > 1:
                raise KeyError("a bug")

    cache = BrokenCache(pool, redis)
    await cache.start()
    try:
        await cache.wait_for(3).wait()
    finally:
        await cache.stop()

    errors = [r for r in caplog.records if r.name == "app.catalog.cache"]
    assert errors
    assert all(r.levelno == logging.ERROR and r.exc_info is not None for r in errors)
