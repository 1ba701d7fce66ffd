"""Tries recorded in batches (deliveries.record_many) and several senders sharing the
outbox, each with its own connections as separate `tracker sender` processes have."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg

from app import db
from app.sender import deliveries
from app.sender.attempt import DELIVERY_HEADER, Attempt
from app.sender.engine import Sender
from app.settings import Settings
from tests.sender.conftest import Rows
from tests.sender.receiver import Received, Receiver, Reply

OK = Attempt(200, None, 3, "ok")
DOWN = Attempt(503, "HTTP 503", 4, "busy")


async def test_a_batch_stores_every_try_and_each_outcome(pool: asyncpg.Pool, rows: Rows) -> None:
    ids = [await rows.delivery(f"http://127.0.0.1:9/pb/{i}") for i in range(3)]
    retry_at = datetime.now(UTC) + timedelta(minutes=1)

    statuses = await deliveries.record_many(
        pool,
        [
            deliveries.Outcome(ids[0], OK, None),
            deliveries.Outcome(ids[1], DOWN, retry_at),
            deliveries.Outcome(ids[2], DOWN, None),
        ],
    )

    assert statuses == ["delivered", "pending", "failed"]
    done, again, failed = [await rows.get(i) for i in ids]
    assert (done["status"], done["attempts"], done["last_error"]) == ("delivered", 1, None)
    assert done["delivered_at"] is not None
    assert (again["status"], again["attempts"], again["last_error"]) == ("pending", 1, "HTTP 503")
    assert again["next_attempt_at"] == retry_at
    assert again["delivered_at"] is None
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert [(a["status_code"], a["response_snippet"]) for a in await rows.attempts(ids[1])] == [
        (503, "busy")
    ]
    assert sum([len(await rows.attempts(i)) for i in ids]) == 3


async def test_an_empty_batch_touches_nothing(pool: asyncpg.Pool) -> None:
    assert await deliveries.record_many(pool, []) == []


async def test_a_batch_that_fails_to_commit_stores_none_of_its_tries(
    pool: asyncpg.Pool, rows: Rows
) -> None:
    good = await rows.delivery("http://127.0.0.1:9/pb/good")
    # A delivery ID that does not exist: the attempts row's foreign key fails the batch.
    batch = [deliveries.Outcome(good, OK, None), deliveries.Outcome(good + 1000, OK, None)]
    try:
        await deliveries.record_many(pool, batch)
    except asyncpg.ForeignKeyViolationError:
        pass
    else:
        raise AssertionError("the batch was stored")
    assert (await rows.get(good))["status"] == "pending"
    assert await rows.attempts(good) == []


class InFlight:
    """A receiver's handler that notes each delivery in flight, so a delivery sent by two
    senders at once shows."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.overlaps: list[str] = []

    async def __call__(self, request: Received) -> Reply:
        delivery = request.headers[DELIVERY_HEADER.lower()]
        self.now[delivery] += 1
        if self.now[delivery] > 1:
            self.overlaps.append(delivery)
        await asyncio.sleep(0.002)  # long enough for another sender to claim the same row
        self.now[delivery] -= 1
        return Reply()


async def test_senders_with_their_own_connections_send_each_delivery_once(
    database_url: str, sender_settings: Settings, receiver: Receiver, rows: Rows
) -> None:
    count = 150
    ids = [await rows.delivery(receiver.base_url + f"/pb/{i}") for i in range(count)]
    in_flight = InFlight()
    receiver.handler = in_flight
    pools = [await db.create_pool(database_url, min_size=1, max_size=4) for _ in range(3)]
    senders = [Sender(p, sender_settings) for p in pools]
    try:
        await asyncio.gather(*(s.run(stop=asyncio.Event(), burst=True) for s in senders))
    finally:
        for s in senders:
            await s.aclose()
        for p in pools:
            await p.close()

    assert in_flight.overlaps == []
    sent = Counter(r.headers[DELIVERY_HEADER.lower()] for r in receiver.received)
    assert sent == Counter({str(i): 1 for i in ids})
    assert sum(s.sent for s in senders) == count
    # More than one sender did some of the work (they shared it, not queued behind one).
    assert sum(1 for s in senders if s.sent) >= 2
    for i in ids:
        row = await rows.get(i)
        assert (row["status"], row["attempts"]) == ("delivered", 1)
        assert len(await rows.attempts(i)) == 1


async def test_senders_sharing_failing_receivers_try_each_delivery_once_per_round(
    database_url: str, sender_settings: Settings, receiver: Receiver, rows: Rows
) -> None:
    count = 60
    ids = [await rows.delivery(receiver.base_url + f"/pb/{i}") for i in range(count)]
    receiver.handler = lambda r: Reply(status=500 if r.path.endswith(("0", "5")) else 200)
    pools = [await db.create_pool(database_url, min_size=1, max_size=4) for _ in range(2)]
    senders = [Sender(p, sender_settings) for p in pools]
    try:
        await asyncio.gather(*(s.run(stop=asyncio.Event(), burst=True) for s in senders))
    finally:
        for s in senders:
            await s.aclose()
        for p in pools:
            await p.close()

    assert len(receiver.received) == count  # every delivery tried, none twice
    failing = {str(i) for n, i in enumerate(ids) if n % 5 == 0}
    for i in ids:
        row = await rows.get(i)
        assert row["attempts"] == 1
        expected = "pending" if str(i) in failing else "delivered"
        assert row["status"] == expected
        if expected == "pending":
            # The first of the schedule's retries (60 s here), not due now.
            assert row["next_attempt_at"] > datetime.now(UTC) + timedelta(seconds=30)
