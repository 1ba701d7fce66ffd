"""The producer's script: an admission may store a record, store what it says instead, or
refuse it and store nothing (Refused); the `enqueued` counter counts what was stored."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from app.settings import Settings
from app.streams import keys
from app.streams.producer import Refused, StreamProducer
from tests.helpers import stream_entries

# Argument "in": store; "mark": store marked; anything else: store nothing.
ADMISSION = """
local function admit(rec, first, n)
  if ARGV[first] == 'in' then return rec, 1 end
  if ARGV[first] == 'mark' then return rec .. '!', 0 end
  return false, -1
end
"""


async def test_an_admission_stores_marks_or_refuses_each_record_of_a_batch(
    settings: Settings, redis: Redis
) -> None:
    shard = "things:{0}"
    producer = StreamProducer(
        str(settings.redis_url), [shard], budget_s=5, max_batch=64, admission=ADMISSION
    )
    producer.start()
    try:
        # Submitted together, so they share one batch (one script call).
        futures = [
            producer.enqueue(b"a", shard=0, admission=(b"1", b"in")),
            producer.enqueue(b"b", shard=0, admission=(b"1", b"out")),
            producer.enqueue(b"c", shard=0, admission=(b"1", b"mark")),
            producer.enqueue(b"d", shard=0),
        ]
        answers = await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await producer.stop()
    assert answers[0] is True
    assert isinstance(answers[1], Refused)
    assert answers[2:] == [False, True]
    stored = [fields[b"r"] for _, fields in await stream_entries(redis, shard)]
    assert stored == [b"a", b"c!", b"d"]
    assert await redis.hget(keys.metrics_key(shard), "enqueued") == b"3"


async def test_the_admission_reads_its_own_keys(settings: Settings, redis: Redis) -> None:
    """`admission_keys` come after the shard's two keys (KEYS[3] on)."""
    reads_a_key = """
    local function admit(rec, first, n)
      if redis.call('GET', KEYS[3]) == ARGV[first] then return rec, 1 end
      return false, -1
    end
    """
    await redis.set("things:gate", "open")
    producer = StreamProducer(
        str(settings.redis_url),
        ["things:{0}"],
        budget_s=5,
        max_batch=8,
        admission=reads_a_key,
        admission_keys=lambda _key: ("things:gate",),
    )
    producer.start()
    try:
        assert await producer.enqueue(b"x", shard=0, admission=(b"1", b"open")) is True
        with pytest.raises(Refused):
            await producer.enqueue(b"y", shard=0, admission=(b"1", b"shut"))
    finally:
        await producer.stop()
    assert [f[b"r"] for _, f in await stream_entries(redis, "things:{0}")] == [b"x"]
