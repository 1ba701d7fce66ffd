"""One try of a delivery against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson

from app.sender.attempt import SNIPPET_BYTES, retry_after_seconds
from app.sender.engine import Sender
from tests.sender.conftest import Rows
from tests.sender.receiver import Receiver, Reply


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


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now=now) == 120.0
    assert retry_after_seconds("Tue, 24 Nov 2026 12:05:00 GMT", now=now) == 300.0
    assert retry_after_seconds("Tue, 24 Nov 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds("-5", now=now) is None
    assert retry_after_seconds(None) is None


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
    assert attempt["response_snippet"] == "x" * SNIPPET_BYTES


async def test_binary_response_is_stored_safely(
    sender: Sender, receiver: Receiver, rows: Rows
) -> None:
    receiver.handler = lambda _: Reply(body=b"\x00\xff\xfe binary")
    delivery_id = await rows.delivery(receiver.base_url + "/pb")

    await sender.run_once()

    assert (await rows.get(delivery_id))["status"] == "delivered"
    [attempt] = await rows.attempts(delivery_id)
    assert attempt["response_snippet"].endswith(" binary")


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
