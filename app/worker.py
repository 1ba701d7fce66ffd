"""`tracker worker`: one stream consumer per feature stream, and the worker's upkeep.

- clicks: app.clicks.consumer (enrich, store, rollups);
- conversions: the attribution handler, with its mover of due retries polled first;
- hourly: click partitions for the coming days, and retention;
- daily (one worker of the fleet, by a Redis key): commission group evaluation, and the
  digest mail of the day before;
- every few seconds: the health key /ready counts.
SIGTERM stops reading, finishes the batch in hand, and exits; `--burst` runs until the
streams are empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
from redis.asyncio import Redis

from app import db, signals
from app.attribution import consumer as attribution_consumer
from app.clicks import retention
from app.clicks.consumer import ClickHandler
from app.mail import digest
from app.ops import health
from app.partners import evaluation
from app.redis import create_redis
from app.rollups import subids
from app.settings import Settings
from app.streams import keys
from app.streams.consumer import Counters, Handler, StreamConsumer, consumer_name
from app.streams.faults import Faults

logger = logging.getLogger(__name__)

__all__ = ["Counters", "StreamConsumer", "maintain_partitions", "run"]

ROLE = "worker"
UPKEEP_INTERVAL_S = 3600.0


def _consumer(
    settings: Settings,
    redis: Redis,
    stream: str,
    handler: Handler,
    *,
    on_poll: Callable[[], Awaitable[int]] | None = None,
    on_start: Callable[[], Awaitable[None]] | None = None,
) -> StreamConsumer:
    return StreamConsumer(
        redis=redis,
        stream_keys=keys.shard_keys(stream, settings.stream_shards),
        handler=handler,
        consumer=consumer_name(),
        batch=settings.worker_batch,
        block_ms=settings.worker_block_ms,
        reclaim_idle_ms=settings.worker_reclaim_idle_ms,
        max_deliveries=settings.worker_max_deliveries,
        on_poll=on_poll,
        on_start=on_start,
        faults=Faults.from_environment(),
    )


async def maintain_partitions(pool: db.Pool, settings: Settings) -> None:
    await retention.maintain_partitions(
        pool, today=datetime.now(UTC).date(), keep_days=settings.click_retention_days
    )


async def _upkeep(pool: db.Pool, settings: Settings, stop: asyncio.Event) -> None:
    """Hourly: partitions for the coming days, retention, and the sub-ID tier's seals.
    Several workers may run it at once; each step is idempotent (the seals take a lock)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), UPKEEP_INTERVAL_S)
        if stop.is_set():
            return
        try:
            await maintain_partitions(pool, settings)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("partition upkeep failed, retrying in an hour: %s", exc)
        try:
            await subids.seal(pool)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("sub-ID tier upkeep failed, retrying in an hour: %s", exc)


async def _daily_groups(pool: db.Pool, redis: Redis, stop: asyncio.Event) -> None:
    """Once a UTC day, in one worker of the fleet: group evaluation and the digest mail
    of the day before (checked hourly)."""
    while not stop.is_set():
        try:
            await evaluation.evaluate_daily(pool, redis)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("group evaluation failed, retrying in an hour: %s", exc)
        try:
            await digest.enqueue_daily(pool, redis)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("daily digest failed, retrying in an hour: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), UPKEEP_INTERVAL_S)


async def run(
    settings: Settings,
    *,
    burst: bool = False,
    stop: asyncio.Event | None = None,
) -> Counters:
    """Run one consumer per stream (clicks, conversions) until stopped; the clicks' counters.

    In burst mode each consumer in turn runs until its streams are empty.
    """
    database_url, redis_url = settings.require_urls()
    stop = stop or asyncio.Event()
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    redis: Redis = create_redis(redis_url)
    try:
        click_handler = ClickHandler(pool, redis)
        clicks = _consumer(
            settings, redis, keys.CLICKS, click_handler.handle, on_start=click_handler.start
        )
        attributor = attribution_consumer.Attributor(pool, redis, settings)
        conversions = _consumer(
            settings,
            redis,
            keys.CONVERSIONS,
            attributor.handle,
            on_poll=attributor.move_due_retries,
        )
        consumers = [clicks, conversions]
        logger.info("worker %s started", clicks.consumer)
        async with health.heartbeat(redis, ROLE):
            await maintain_partitions(pool, settings)
            if burst:
                # One stream after the other, clicks first: a burst run (tests, catch-up)
                # then stores a click before the conversion that names it is attributed.
                for consumer in consumers:
                    await consumer.run(stop=stop, burst=True)
            else:
                upkeep = asyncio.create_task(_upkeep(pool, settings, stop))
                groups = asyncio.create_task(_daily_groups(pool, redis, stop))
                try:
                    await asyncio.gather(*(c.run(stop=stop, burst=False) for c in consumers))
                finally:
                    await signals.cancel(upkeep)
                    await signals.cancel(groups)
        for consumer in consumers:
            logger.info("worker stopped: %s %s", consumer.stream_keys, consumer.counters)
        return clicks.counters
    finally:
        await redis.aclose()
        await pool.close()
