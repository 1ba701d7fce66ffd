"""The consumer's failure rules: an entry's own error dead-letters that entry only; an
infrastructure failure dead-letters nothing, however often it repeats."""

import asyncio
from typing import Any, cast

import asyncpg
import pytest
from redis.asyncio import Redis

from app.streams import keys
from app.streams.consumer import StreamConsumer
from app.streams.outcome import BatchOutcome
from tests.helpers import stream_entries

KEY = "test:{0}"


def consumer(redis: Redis, handler: object, **options: Any) -> StreamConsumer:
    return StreamConsumer(
        redis=redis,
        stream_keys=[KEY],
        handler=handler,  # type: ignore[arg-type]
        consumer="c1",
        reclaim_idle_ms=0,
        **options,
    )


@pytest.mark.parametrize(
    "error",
    [
        ValueError("year 10889 is out of range"),
        # PostgreSQL refusing a value (an index row too large, a value out of range) is
        # the entry's fault too: taken for an outage, it would stop the whole shard.
        asyncpg.ProgramLimitExceededError("index row size 3120 exceeds maximum 2704"),
        # A row breaking a constraint (class 23): its entry's fault, never the database's.
        asyncpg.CheckViolationError("new row violates check constraint"),
        # A row breaking a constraint (a conversion naming an affiliate deleted since)
        # is split out here, the one place batches are split, not by each handler.
        asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
    ],
)
async def test_an_entry_that_raises_is_dead_lettered_alone(redis: Redis, error: Exception) -> None:
    stored: list[bytes] = []

    async def handler(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        if any(record == b"bad" for _, record in entries):
            raise error
        stored.extend(record for _, record in entries)
        return BatchOutcome(inserted=len(entries))

    for record in (b"a", b"bad", b"c"):
        await redis.xadd(KEY, {"r": record})
    worker = consumer(redis, handler)
    await worker.ensure_groups()
    assert await worker.read_new(None) == 3
    assert sorted(stored) == [b"a", b"c"]
    [(_, dead)] = await stream_entries(redis, keys.dead_letter_key(KEY))
    assert dead[b"record"] == b"bad"
    assert dead[b"error"].decode() == f"{type(error).__name__}: {error}"
    assert (await redis.xpending(KEY, keys.GROUP))["pending"] == 0


async def test_an_outage_never_dead_letters_however_many_deliveries(redis: Redis) -> None:
    down = True

    async def handler(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        if down:
            raise ConnectionRefusedError("PostgreSQL is down")
        return BatchOutcome(inserted=len(entries))

    await redis.xadd(KEY, {"r": b"click"})
    worker = consumer(redis, handler, max_deliveries=2)
    await worker.ensure_groups()
    with pytest.raises(ConnectionRefusedError):
        await worker.read_new(None)
    for _ in range(6):  # six more tries: three times the delivery limit
        with pytest.raises(ConnectionRefusedError):
            await worker.reclaim()
    [pending] = cast(
        list[dict[str, Any]],
        await redis.xpending_range(KEY, keys.GROUP, min="-", max="+", count=10),
    )
    assert pending["times_delivered"] > 2
    assert await redis.xlen(keys.dead_letter_key(KEY)) == 0

    down = False
    assert await worker.reclaim() == 1
    assert worker.counters.stored == 1
    assert await redis.xlen(keys.dead_letter_key(KEY)) == 0
    assert (await redis.xpending(KEY, keys.GROUP))["pending"] == 0


async def test_an_entry_two_consumers_processed_is_counted_once(redis: Redis) -> None:
    """A slow consumer's entry is reclaimed by another, and both store it: only the ack
    that takes it off the pending list counts it."""
    release = asyncio.Event()
    started = asyncio.Event()

    async def slow(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        started.set()
        await release.wait()
        return BatchOutcome()

    async def quick(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        return BatchOutcome()

    await redis.xadd(KEY, {"r": b"click"})
    first = consumer(redis, slow)
    await first.ensure_groups()
    reading = asyncio.create_task(first.read_new(None))
    await started.wait()
    second = consumer(redis, quick)
    second.consumer = "c2"
    assert await second.reclaim() == 1
    release.set()
    assert await reading == 1
    assert (first.counters.stored, second.counters.stored) == (0, 1)
    assert await redis.hget(keys.metrics_key(KEY), "stored") == b"1"
    assert (await redis.xpending(KEY, keys.GROUP))["pending"] == 0


async def test_the_start_and_stop_hooks_run_once_around_a_run(redis: Redis) -> None:
    calls: list[str] = []

    async def handler(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        calls.append(f"handle {len(entries)}")
        return BatchOutcome()

    async def on_start() -> None:
        calls.append("start")

    async def on_stop() -> None:
        calls.append("stop")

    await redis.xadd(KEY, {"r": b"click"})
    worker = consumer(redis, handler)
    worker.on_start, worker.on_stop = on_start, on_stop
    await worker.run(stop=asyncio.Event(), burst=True)
    assert calls == ["start", "handle 1", "stop"]
