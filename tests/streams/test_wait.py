"""REDIS_WAIT_REPLICAS: a group commit no replica confirms in time is spooled as well,
as the script stored it. (The embedded Redis has no replica: WAIT never confirms.)"""

import time
from typing import Any

import pytest
from redis.asyncio import Redis

from app.caps import clicks as click_caps
from app.caps.clicks import ClickCap, counter_args
from app.clickid import new_click_id
from app.clicks import record as click_record
from app.settings import Settings
from app.streams import keys
from app.streams.durable_queue import DurableQueue
from app.streams.spool import read_records


async def test_an_unconfirmed_batch_is_in_redis_and_in_the_spool_as_stored(
    settings: Settings, redis: Redis
) -> None:
    settings.redis_wait_replicas = 1
    settings.redis_wait_ms = 20
    queue = DurableQueue(
        redis,
        stream=keys.CLICKS,
        settings=settings,
        admission=click_caps.ADMISSION,
        stored_refused=click_caps.capped_record,
    )
    shard = queue.shard_for(9)
    caps = counter_args(shard.key, (ClickCap("o9:a*", "day", 1),), time.time())
    records = [
        click_record.encode(
            *new_click_id(), 1, 2, 9, "USD", None, {}, "203.0.113.7", None, None, None, False
        )
        for _ in range(2)
    ]
    queue.start()
    try:
        within = [await queue.put(r, shard=shard, admission=caps) for r in records]
    finally:
        await queue.stop()
    # The cap still decides; each answer waited for its copy on disk.
    assert within == [True, False]
    assert queue.spooled == 2
    entries: Any = await redis.xrange(shard.key)
    in_redis = [fields[b"r"] for _, fields in entries]
    [spool_file] = queue.spool.path.parent.glob("clicks-*.spool")
    assert list(read_records(spool_file)) == in_redis
    assert click_record.decode(in_redis[1]).diverted == "cap"


def test_the_wait_must_fit_in_the_budget() -> None:
    Settings(redis_wait_replicas=1, redis_wait_ms=40, redis_budget_ms=50)
    with pytest.raises(ValueError, match="REDIS_WAIT_MS"):
        Settings(redis_wait_replicas=1, redis_wait_ms=50, redis_budget_ms=50)
