"""The daily digest: yesterday's (UTC) approved conversions and payout per currency, to
each affiliate on the digest list that had any. Run by the worker once a day; a Redis key
per day lets one worker of the fleet do it, and a dedupe key per affiliate and day makes
a second run (a lost key, a retry) add nothing."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from redis.asyncio import Redis

from app.db import Pool
from app.mail import queries
from app.ops import daily

logger = logging.getLogger(__name__)

DAILY_KEY = "mail:digest:{day}"


async def enqueue(pool: Pool, *, day: date) -> int:
    """The digests of `day`, written to the outbox; how many."""
    bucket = datetime.combine(day, time(), UTC)
    status = await pool.execute(queries.ENQUEUE_DIGESTS, bucket, day.isoformat())
    return int(status.rsplit(" ", 1)[-1])


async def enqueue_daily(pool: Pool, redis: Redis, *, today: date | None = None) -> int | None:
    """Yesterday's digests, if no worker has written them yet (None: another did)."""
    day = (today or datetime.now(UTC).date()) - timedelta(days=1)
    key = DAILY_KEY.format(day=day.isoformat())
    count = await daily.run_once(
        redis, key, keep_s=3 * 86400, what="digest", job=lambda: enqueue(pool, day=day)
    )
    if count is None:
        return None
    logger.info("daily digest of %s: %d mails", day, count)
    return count
