"""The sender's loop against a real HTTP receiver on 127.0.0.1: claims, leases, backoff."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from prometheus_client import REGISTRY

from app.sender.attempt import DELIVERY_HEADER
from app.sender.engine import Sender
from app.settings import Settings
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver, Reply

DELIVERED = "SELECT count(*) FROM deliveries WHERE status = 'delivered'"


def metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


async def test_one_delivery_is_received_exactly_once(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    delivery_id = await rows.delivery(
        receiver.base_url + "/pb?cid={aff_click_id}&p={payout}&s={status}&tx={txid}"
    )
    sent_before = metric("tracker_deliveries_sent_total")

    await sender.run(stop=asyncio.Event(), burst=True)
    await sender.run(stop=asyncio.Event(), burst=True)

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request.method == "GET"
    assert request.target == "/pb?cid=their-click&p=2.50&s=approved&tx=order-1"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers[DELIVERY_HEADER.lower()] == str(delivery_id)
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["delivered_at"] is not None
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["response_snippet"] == "ok"
    assert metric("tracker_deliveries_sent_total") == sent_before + 1


async def test_failing_receiver_gets_it_exactly_once_more_after_recovering(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(status=500, body=b"database down")
    delivery_id = await rows.delivery(receiver.base_url + "/pb")
    retried_before = metric("tracker_deliveries_retried_total")

    assert await sender.run_once() == 1
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "pending"
    assert delivery["attempts"] == 1
    assert delivery["last_error"] == "HTTP 500"
    # First step of the schedule (60 s) with at most 10% jitter.
    wait = delivery["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(seconds=50) < wait <= timedelta(seconds=66)
    assert metric("tracker_deliveries_retried_total") == retried_before + 1
    assert await sender.run_once() == 0  # not due yet

    receiver.handler = lambda _: Reply()
    await rows.make_due()
    await sender.run(stop=asyncio.Event(), burst=True)
    await sender.run(stop=asyncio.Event(), burst=True)

    assert len(receiver.received) == 2
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 2
    assert delivery["last_error"] is None
    first, second = await rows.attempts(delivery_id)
    assert (first["status_code"], first["response_snippet"]) == (500, "database down")
    assert second["status_code"] == 200


async def test_retry_after_is_honoured(sender: Sender, receiver: Receiver, rows: Rows) -> None:
    receiver.handler = lambda _: Reply(status=503, headers={"Retry-After": "200"})
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    wait = (await rows.get(delivery_id))["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(seconds=190) < wait <= timedelta(seconds=200)


async def test_retry_after_is_capped_by_the_last_step_of_the_schedule(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(status=429, headers={"Retry-After": "99999999"})
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    wait = (await rows.get(delivery_id))["next_attempt_at"] - datetime.now(UTC)
    assert timedelta(seconds=290) < wait <= timedelta(seconds=300)


async def test_after_the_last_try_the_delivery_is_failed(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(status=500)
    delivery_id = await rows.delivery(receiver.base_url + "/pb")
    failed_before = metric("tracker_deliveries_failed_total")

    # A schedule of two waits: three tries in all.
    for _ in range(3):
        assert await sender.run_once() == 1
        await rows.make_due()

    assert await sender.run_once() == 0
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 3
    assert delivery["last_error"] == "HTTP 500"
    assert len(await rows.attempts(delivery_id)) == 3
    assert len(receiver.received) == 3
    assert metric("tracker_deliveries_failed_total") == failed_before + 1


async def test_killed_sender_resumes_without_resending_what_was_delivered(
    pool: asyncpg.Pool, sender_settings: Settings, receiver: Receiver, rows: Rows
) -> None:
    release = asyncio.Event()
    receiver.handler = lambda r: Reply(wait=release) if r.path == "/stuck" else Reply()
    fast = [await rows.delivery(receiver.base_url + f"/fast/{i}") for i in range(5)]
    stuck = await rows.delivery(receiver.base_url + "/stuck")
    settings = sender_settings.model_copy(update={"sender_read_timeout_s": 30.0})

    first = Sender(pool, settings)
    running = asyncio.create_task(first.run(stop=asyncio.Event()))
    try:
        await receiver.wait_for(lambda got: len(got) == 6)
        # The sender commits on its own connections; only the table tells when it has.
        while await pool.fetchval(DELIVERED) < 5:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        running.cancel()  # killed mid-run, the stuck request still open
        with pytest.raises(asyncio.CancelledError):
            await running
    finally:
        await first.aclose()
    assert (await rows.get(stuck))["status"] == "pending"
    assert await rows.attempts(stuck) == []

    # The lease of the killed sender's row runs out; a new sender takes over.
    release.set()
    await rows.make_due()
    second = Sender(pool, settings)
    try:
        await second.run(stop=asyncio.Event(), burst=True)
    finally:
        await second.aclose()

    for i in range(5):
        assert len(receiver.on(f"/fast/{i}")) == 1
    assert len(receiver.on("/stuck")) == 2  # at least once: it was never marked delivered
    for delivery_id in [*fast, stuck]:
        assert (await rows.get(delivery_id))["status"] == "delivered"


async def test_two_senders_share_the_outbox_without_sending_twice(
    pool: asyncpg.Pool, sender_settings: Settings, receiver: Receiver, rows: Rows
) -> None:
    for i in range(30):
        await rows.delivery(receiver.base_url + f"/pb/{i}")
    senders = [Sender(pool, sender_settings) for _ in range(2)]
    try:
        await asyncio.gather(*(s.run(stop=asyncio.Event(), burst=True) for s in senders))
    finally:
        for s in senders:
            await s.aclose()

    assert sorted(r.path for r in receiver.received) == sorted(f"/pb/{i}" for i in range(30))
    assert sum(s.sent for s in senders) == 30
