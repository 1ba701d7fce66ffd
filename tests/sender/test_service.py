"""The sender against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import orjson
import pytest
from prometheus_client import REGISTRY

from app.sender import service as sender_service
from app.settings import Settings
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver, Reply

Sender = sender_service.Sender
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
    assert request.headers[sender_service.DELIVERY_HEADER.lower()] == str(delivery_id)
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "delivered"
    assert delivery["attempts"] == 1
    assert delivery["delivered_at"] is not None
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["response_snippet"] == "ok"
    assert metric("tracker_deliveries_sent_total") == sent_before + 1


async def test_post_sends_the_json_body(sender: Sender, receiver: Receiver, rows: Rows) -> None:
    delivery_id = await rows.delivery(receiver.base_url + "/pb?e={event}", method="POST")

    assert await sender.run_once() == 1

    [request] = receiver.received
    assert request.method == "POST"
    assert request.target == "/pb?e=sale"
    assert request.headers["content-type"] == "application/json"
    body = orjson.loads(request.body)
    assert body["txid"] == "order-1"
    assert body["payout"] == "2.50"
    assert body["status"] == "approved"
    assert body["event"] == "sale"
    assert isinstance(body["offer_id"], int)
    assert (await rows.get(delivery_id))["status"] == "delivered"


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


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert sender_service.retry_after_seconds("120", now=now) == 120.0
    assert sender_service.retry_after_seconds("Tue, 24 Nov 2026 12:05:00 GMT", now=now) == 300.0
    assert sender_service.retry_after_seconds("Tue, 24 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert sender_service.retry_after_seconds("soon", now=now) is None
    assert sender_service.retry_after_seconds("-5", now=now) is None
    assert sender_service.retry_after_seconds(None) is None


async def test_redirect_to_an_internal_host_is_not_followed(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    # The target is the receiver itself, so following the redirect would show up there.
    receiver.handler = lambda r: (
        Reply(status=302, headers={"Location": receiver.base_url + "/internal"})
        if r.path == "/pb"
        else Reply(body=b"secret")
    )
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    assert receiver.on("/internal") == []
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == "HTTP 302"
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["status_code"] == 302


async def test_hanging_receiver_times_out_without_holding_up_the_others(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    never = asyncio.Event()
    receiver.handler = lambda r: Reply(wait=never) if r.path == "/hang" else Reply()
    hanging = await rows.delivery(receiver.base_url + "/hang")
    fine = await rows.delivery(receiver.base_url + "/fine")

    assert await sender.run_once() == 2

    stuck, done = await rows.get(hanging), await rows.get(fine)
    assert done["status"] == "delivered"
    assert stuck["status"] == "pending"
    assert "ReadTimeout" in stuck["last_error"]
    [slow_try] = await rows.attempts(hanging)
    [fast_try] = await rows.attempts(fine)
    assert slow_try["latency_ms"] >= 500  # the read timeout of these settings
    assert fast_try["latency_ms"] < 500
    assert done["delivered_at"] < slow_try["attempted_at"]


async def test_receiver_trickling_bytes_is_cut_off_by_the_deadline(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    # A byte every 0.1 s never trips the 0.5 s read timeout; the deadline (connect plus
    # read timeout, 1.5 s here) ends the try.
    receiver.handler = lambda _: Reply(trickle_s=0.1)
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    started = time.monotonic()
    await sender.run_once()

    assert time.monotonic() - started < 3.0
    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == "timed out after 1.5 s"


async def test_receiver_closing_the_connection_is_a_failed_try(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(hang_up=True)
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    delivery = await rows.get(delivery_id)
    assert delivery["status"] == "pending"
    assert "RemoteProtocolError" in delivery["last_error"]
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["status_code"] is None


async def test_huge_response_body_is_not_read_and_the_snippet_is_capped(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(stream_bytes=50 * 1024 * 1024)
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    started = time.monotonic()
    await sender.run_once()

    assert time.monotonic() - started < 2.0
    assert (await rows.get(delivery_id))["status"] == "delivered"
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["response_snippet"] == "x" * sender_service.SNIPPET_BYTES


async def test_binary_response_is_stored_safely(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(body=b"\x00\xff\xfe binary")
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    assert (await rows.get(delivery_id))["status"] == "delivered"
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["response_snippet"].endswith(" binary")


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


async def test_bad_urls_are_failed_tries_not_crashes(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    not_http = await rows.delivery("ftp://127.0.0.1/pb")
    bad_port = await rows.delivery("http://127.0.0.1:99999/pb")
    fine = await rows.delivery(receiver.base_url + "/pb")

    await sender.run(stop=asyncio.Event(), burst=True)

    assert "not an http(s) URL" in (await rows.get(not_http))["last_error"]
    assert (await rows.get(bad_port))["status"] == "pending"
    assert (await rows.get(fine))["status"] == "delivered"


def verify(secret: str, header: str, payload: bytes, *, tolerance_s: int = 300) -> bool:
    """What an affiliate's server does with X-Tracker-Signature."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), fields["v1"])


async def test_post_signature_verifies_over_timestamp_and_body(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    await rows.delivery(receiver.base_url + "/pb", method="POST", signing_secret="s3cret")

    await sender.run_once()

    [request] = receiver.received
    header = request.headers["x-tracker-signature"]
    assert verify("s3cret", header, request.body)
    assert not verify("other", header, request.body)
    assert not verify("s3cret", header, request.body + b" ")


async def test_get_signature_verifies_over_timestamp_and_request_target(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    await rows.delivery(receiver.base_url + "/pb?s={status}&tx={txid}", signing_secret="s3cret")

    await sender.run_once()

    [request] = receiver.received
    header = request.headers["x-tracker-signature"]
    assert verify("s3cret", header, request.target.encode())
    assert not verify("s3cret", header, b"/pb?s=rejected&tx=order-1")


async def test_no_signature_without_a_secret(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    assert "x-tracker-signature" not in receiver.received[0].headers


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


async def test_slow_receiver_does_not_take_every_slot(
    pool: asyncpg.Pool, sender_settings: Settings, rows: Rows
) -> None:
    slow, fast = Receiver(), Receiver()
    await slow.start()
    await fast.start()
    release = asyncio.Event()
    slow.handler = lambda _: Reply(wait=release)
    settings = sender_settings.model_copy(
        update={"sender_concurrency": 4, "sender_read_timeout_s": 30.0}
    )
    instance = Sender(pool, settings)
    stop = asyncio.Event()
    try:
        for i in range(8):
            await rows.delivery(slow.base_url + f"/slow/{i}")
        for i in range(8):
            await rows.delivery(fast.base_url + f"/fast/{i}")
        running = asyncio.create_task(instance.run(stop=stop))
        # Every fast delivery arrives while the slow receiver holds its requests.
        await fast.wait_for(lambda got: len(got) == 8)
        assert len(slow.received) <= 2  # half of the 4 slots
        release.set()
        await slow.wait_for(lambda got: len(got) == 8)
        stop.set()
        await running
    finally:
        release.set()
        await instance.aclose()
        await slow.stop()
        await fast.stop()
    assert await pool.fetchval(DELIVERED) == 16
