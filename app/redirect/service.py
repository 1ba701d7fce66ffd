"""Start and stop the redirect path's resources with the web app."""

from __future__ import annotations

from redis.asyncio import Redis

from app.caps import clicks as click_caps
from app.db import Pool
from app.redirect.cache import LinkCache
from app.redirect.handler import Redirector
from app.settings import Settings
from app.streams import keys
from app.streams.durable_queue import DurableQueue


async def start(redirector: Redirector, *, settings: Settings, pool: Pool, redis: Redis) -> None:
    redirector.cache = LinkCache(
        pool, redis, poll_s=settings.catalog_poll_ms / 1000, ttl_s=settings.catalog_ttl_s
    )
    await redirector.cache.start()
    redirector.queue = DurableQueue(
        redis, stream=keys.CLICKS, settings=settings, admission=click_caps.ADMISSION
    )
    redirector.queue.start()


async def stop(redirector: Redirector) -> None:
    if redirector.queue is not None:
        await redirector.queue.stop()
    if redirector.cache is not None:
        await redirector.cache.stop()


async def replay_spool(redirector: Redirector) -> int:
    """Move spooled clicks into the stream; the count moved."""
    assert redirector.queue is not None
    return await redirector.queue.replay()
