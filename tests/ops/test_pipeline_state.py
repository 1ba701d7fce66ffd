"""Reconciliation: every served click is stored, in flight or dead-lettered."""

import asyncio
import time
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app import worker as stream_worker
from app.attribution import consumer as attribution_consumer
from app.clickid import new_click_id
from app.db import Pool
from app.ops import pipeline
from app.postbacks.records import ConversionRecord
from app.settings import Settings
from app.streams import keys
from app.streams.producer import StreamProducer
from tests.helpers import new_click_uuid, reload_links

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"}


async def test_served_equals_stored_plus_in_flight_plus_dead_lettered(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    redis: Redis,
    admin: dict[str, str],
) -> None:
    await reload_links(app)
    for _ in range(30):
        assert (
            await client.get(f"/c/{catalog['alice_link']['code']}", headers=BROWSER)
        ).status_code == 302

    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.enqueued, state.stored, state.in_streams) == (30, 30, 0, 30)
    assert state.balance == 0

    key = keys.shard_keys(keys.CLICKS, settings.stream_shards)[0]
    await redis.xadd(key, {"r": b"garbage"})  # not served: shows up as a -1 balance
    await stream_worker.run(settings, burst=True)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.stored, state.dead_lettered, state.in_streams) == (30, 1, 0)
    assert state.balance == -1

    report = await client.get("/api/v1/pipeline", headers=admin)
    assert report.status_code == 200
    assert report.json()["clicks"]["stored"] == 30
    assert report.json()["conversions"]["balance"] == 0
    assert (await client.get("/api/v1/pipeline")).status_code == 401


async def test_metrics_exposes_the_pipeline_counters(
    app: FastAPI, client: httpx.AsyncClient, catalog: dict[str, Any]
) -> None:
    await reload_links(app)
    await client.get(f"/c/{catalog['bob_link']['code']}", headers=BROWSER)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "tracker_redirects_served_total 1" in response.text
    assert 'tracker_stream_lag{stream="clicks:{' in response.text


async def test_conversions_have_their_own_reconciliation(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    redis: Redis,
) -> None:
    token = catalog["advertiser"]["postback_token"]
    unknown_click = new_click_id()[0]
    for i in range(3):
        response = await client.get(
            "/postback", params={"token": token, "click_id": unknown_click, "txid": f"T{i}"}
        )
        assert response.status_code == 200, response.text
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.in_streams, state.balance) == (3, 3, 0)
    await stream_worker.run(settings, burst=True)
    # The click is unknown: the conversions wait in the retry set, still accounted for.
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.stored, state.in_streams, state.balance) == (0, 3, 0)
    metrics = (await client.get("/metrics")).text
    assert "tracker_postbacks_accepted_total 3" in metrics
    assert 'tracker_stream_lag{stream="conversions:{0}"}' in metrics


async def test_repeated_postbacks_are_served_and_stored_each(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    redis: Redis,
    pool: Pool,
) -> None:
    """100 identical postbacks: 100 served, one conversion, and 100 stored records (the
    99 repeats are stored as "no change"): not 99 lost."""
    await reload_links(app)
    cookie = (await client.get(f"/c/{catalog['alice_link']['code']}", headers=BROWSER)).headers[
        "set-cookie"
    ]
    click_id = cookie.split(";")[0].split("=", 1)[1]
    await stream_worker.run(settings, burst=True)
    token = catalog["advertiser"]["postback_token"]
    for _ in range(100):
        response = await client.get(
            "/postback", params={"token": token, "click_id": click_id, "txid": "ORDER-1"}
        )
        assert response.status_code == 200, response.text
    await stream_worker.run(settings, burst=True)
    assert await pool.fetchval("SELECT count(*) FROM conversions") == 1
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.in_streams, state.balance) == (100, 100, 0, 0)


async def test_a_postback_taking_its_order_from_a_pixel_is_counted_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    redis: Redis,
    pool: Pool,
) -> None:
    """The postback reverses the pixel's conversion (one status change) and goes around
    again through the retry set: it is in flight until then, not stored as well."""
    await reload_links(app)
    clicks = []
    for link in ("alice_link", "bob_link"):
        response = await client.get(f"/c/{catalog[link]['code']}", headers=BROWSER)
        clicks.append(response.headers["set-cookie"].split(";")[0].split("=", 1)[1])
        client.cookies.clear()
    alice, bob = clicks
    await stream_worker.run(settings, burst=True)
    gif = await client.get("/pixel.gif", params={"click_id": bob, "txid": "ORDER-9"})
    assert gif.status_code == 200
    await stream_worker.run(settings, burst=True)
    token = catalog["advertiser"]["postback_token"]
    response = await client.get(
        "/postback", params={"token": token, "click_id": alice, "txid": "ORDER-9"}
    )
    assert response.status_code == 200
    await stream_worker.run(settings, burst=True)
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.in_streams, state.balance) == (2, 1, 1, 0)

    attributor = attribution_consumer.Attributor(pool, redis, settings)
    assert await attributor.move_due_retries(now=time.time() + 86_400) == 1
    await stream_worker.run(settings, burst=True)
    assert await pool.fetchval("SELECT count(*) FROM conversions") == 2
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.in_streams, state.balance) == (2, 2, 0, 0)


async def test_identical_conversions_waiting_for_their_click_stay_two(
    catalog: dict[str, Any], settings: Settings, redis: Redis
) -> None:
    """Two postbacks identical to the microsecond (two web processes), for a click not
    stored yet: two retries, not one."""
    record = ConversionRecord(
        via="postback",
        advertiser_id=catalog["advertiser"]["id"],
        click_id=new_click_uuid(),
        txid="T1",
        amount=None,
        payout=None,
        currency=None,
        status="approved",
        event=None,
        received_us=time.time_ns() // 1000,
    ).encode()
    shards = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
    producer = StreamProducer(str(settings.redis_url), shards, budget_s=5, max_batch=64)
    producer.start()
    try:
        await asyncio.gather(producer.enqueue(record, shard=0), producer.enqueue(record, shard=0))
    finally:
        await producer.stop()
    await stream_worker.run(settings, burst=True)
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.in_streams, state.balance) == (2, 0, 2, 0)
    assert state.shards[0].retrying == 2
