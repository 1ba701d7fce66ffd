"""In-process copies of catalog data, kept fresh by the catalog version key.

A catalog change bumps the version (`service.notify_changed`); every process polls it a
few times a second and reloads when it moves, and reloads anyway after a TTL in case a
bump was lost. Subclasses say what to load; the hot paths then read plain dicts.
(The link cache, app.redirect.cache, loads only what changed, and checks the version
at once on a miss.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from typing import Self

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import outage, signals
from app.catalog.service import CATALOG_VERSION_KEY
from app.db import Pool
from app.settings import Settings

logger = logging.getLogger(__name__)


class CatalogCache(ABC):
    def __init__(self, pool: Pool, redis: Redis, *, poll_s: float, ttl_s: float) -> None:
        self._pool = pool
        self._redis = redis
        self._poll_s = poll_s
        self._ttl_s = ttl_s
        self._version: bytes | str | None = None
        self._loaded_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, pool: Pool, redis: Redis, settings: Settings, **options: float) -> Self:
        """The cache loaded and watching the version as CATALOG_POLL_MS and CATALOG_TTL_S
        say (the web app's caches); `options`: a subclass's own."""
        poll_s, ttl_s = settings.catalog_poll_ms / 1000, settings.catalog_ttl_s
        cache = cls(pool, redis, poll_s=poll_s, ttl_s=ttl_s, **options)
        await cache.start()
        return cache

    @abstractmethod
    async def _reload(self) -> None:
        """Read the catalog rows this cache serves and swap them in."""

    async def load(self) -> None:
        try:
            version = await self._redis.get(CATALOG_VERSION_KEY)
        except RedisError:
            version = None
        await self._reload()
        self._version = version
        self._loaded_at = time.monotonic()

    async def start(self) -> None:
        await self.load()
        self._task = asyncio.create_task(self._watch(), name=f"{type(self).__name__}-watch")

    async def stop(self) -> None:
        await signals.cancel(self._task)

    async def refresh_if_changed(self) -> bool:
        version = await self._redis.get(CATALOG_VERSION_KEY)
        if version != self._version or time.monotonic() - self._loaded_at > self._ttl_s:
            await self.load()
            return True
        return False

    async def _watch(self) -> None:
        down: str | None = None
        while True:
            await asyncio.sleep(self._poll_s)
            try:
                await self.refresh_if_changed()
            except Exception as exc:  # the cache keeps serving what it has; retry next tick
                # A server out of reach is expected: one line when it goes, none per tick.
                if (server := outage.server_down(exc)) is None:
                    logger.exception("%s refresh failed", type(self).__name__)
                elif down is None:
                    logger.warning("%s refresh waits for %s: %s", type(self).__name__, server, exc)
                down = server
                continue
            if down is not None:
                logger.info("%s refresh works again", type(self).__name__)
                down = None
