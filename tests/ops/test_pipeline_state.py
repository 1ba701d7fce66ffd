"""Reconciliation: every served click is stored, in flight or dead-lettered."""

from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from app.streams import worker as stream_worker

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36"}


async def test_served_equals_stored_plus_in_flight_plus_dead_lettered(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    redis: Redis,
    admin: dict[str, str],
) -> None:
    redirector = app.state.redirector
    await redirector.cache.load()
    for _ in range(30):
        assert (
            await client.get(f"/c/{catalog['alice_link']['code']}", headers=BROWSER)
        ).status_code == 302
    await redirector.queue.counters.flush()

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
    await app.state.redirector.cache.load()
    await client.get(f"/c/{catalog['bob_link']['code']}", headers=BROWSER)
    await app.state.redirector.queue.counters.flush()
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
    await app.state.intake.queue.counters.flush()
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.in_streams, state.balance) == (3, 3, 0)
    await stream_worker.run(settings, burst=True)
    # The click is unknown: the conversions wait in the retry set, still accounted for.
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.stored, state.in_streams, state.balance) == (0, 3, 0)
    metrics = (await client.get("/metrics")).text
    assert "tracker_postbacks_accepted_total 3" in metrics
    assert 'tracker_stream_lag{stream="conversions:{0}"}' in metrics
