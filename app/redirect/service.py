"""Start and stop the redirect path's resources with the web app."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis

from app.db import Pool
from app.ops.counters import SharedCounters
from app.redirect.cache import LinkCache
from app.redirect.handler import Redirector
from app.settings import Settings
from app.streams import durable, keys
from app.streams.producer import StreamProducer
from app.streams.spool import Spool

logger = logging.getLogger(__name__)


async def start(redirector: Redirector, *, settings: Settings, pool: Pool, redis: Redis) -> None:
    redirector.cache = LinkCache(
        pool, redis, poll_s=settings.catalog_poll_ms / 1000, ttl_s=settings.catalog_ttl_s
    )
    await redirector.cache.start()
    _, redis_url = settings.require_urls()
    redirector.producer = StreamProducer(
        redis_url,
        keys.shard_keys(keys.CLICKS, settings.stream_shards),
        budget_s=settings.redis_budget_ms / 1000,
        max_batch=settings.enqueue_max_batch,
    )
    redirector.producer.start()
    redirector.spool = Spool(settings.tracker_data_dir / "spool", keys.CLICKS)
    redirector.spool.start()
    redirector.counters = SharedCounters(redis, keys.web_metrics_key(keys.CLICKS))
    redirector.counters.start()
    redirector.replayer = asyncio.create_task(
        durable.replay_forever(redirector.spool, lambda: replay_spool(redirector)),
        name="spool-replay",
    )


async def stop(redirector: Redirector) -> None:
    if redirector.replayer is not None:
        redirector.replayer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await redirector.replayer
    for part in (
        redirector.producer,
        redirector.spool,
        redirector.cache,
        redirector.counters,
    ):
        if part is not None:
            await part.stop()


async def replay_spool(redirector: Redirector) -> int:
    """Move spooled clicks into the stream; the count moved."""
    assert redirector.spool is not None
    assert redirector.producer is not None
    moved = await redirector.spool.replay(redirector.producer.send_now)
    if moved and redirector.counters is not None:
        redirector.counters.inc("replayed", moved)
        logger.info("replayed %d spooled clicks into the stream", moved)
    return moved
