"""Erasure of click entries still in the stream: stored later without personal data, once."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id, parse_click_id
from app.clicks import record as click_record
from app.clicks import store
from app.db import Pool
from app.ops import pipeline
from app.privacy import kinds, streams
from app.privacy.subject import Subject
from app.settings import Settings
from app.streams import keys
from app.streams.outcome import SETTLE, BatchOutcome, settle_args
from tests.helpers import reload_links, stream_entries
from tests.support import dump
from tests.support.conversions import run_worker

USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0 Safari/537.36 HeldBy/7"
IP = "192.0.2.77"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"], "stream_shards": 1})


async def click(client: httpx.AsyncClient, code: str) -> str:
    response = await client.get(
        f"/c/{code}", headers={"User-Agent": USER_AGENT, "X-Forwarded-For": IP}
    )
    assert response.status_code == 302
    client.cookies.clear()
    return response.headers["set-cookie"].split(";")[0].split("=", 1)[1]


async def clicks(pool: Pool) -> list[Any]:
    return await pool.fetch("SELECT ip, user_agent, is_unique, device, browser FROM clicks")


async def test_an_entry_a_worker_holds_is_stored_once_without_personal_data(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    click_id = await click(client, catalog["alice_link"]["code"])
    (shard,) = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    await redis.xgroup_create(shard, keys.GROUP, id="0", mkstream=True)
    # A worker takes the entry and is still working on it when the erasure comes.
    reply: Any = await redis.xreadgroup(keys.GROUP, "held", {shard: ">"}, count=10)
    [(_, [(entry_id, fields)])] = reply
    held = [(entry_id.decode(), fields[b"r"])]

    response = await client.post(
        "/api/v1/privacy/erase", json={"click_id": click_id}, headers=admin
    )
    assert response.status_code == 201, response.text
    assert response.json()["counts"] == {
        "clicks_spool": 0,
        "clicks_stream": 1,
        "clicks_dead_letters": 0,
        "clicks": 0,
    }
    assert (await pipeline.pipeline_state(redis, settings)).balance == 0

    # The worker commits what it held, personal data included, and acks it: the ack takes
    # nothing (the erasure acked it), so it is not counted.
    committed = [store.decode(raw) for _, raw in held]
    await store.mark_unique(redis, committed)
    await store.ClickWriter(pool).write(committed)
    assert [r["user_agent"] for r in await clicks(pool)] == [USER_AGENT]
    reply = await redis.register_script(SETTLE)(
        keys=[shard, keys.dead_letter_key(shard), keys.retry_key(shard), keys.metrics_key(shard)],
        args=settle_args(keys.GROUP, held, BatchOutcome(inserted=1)),
    )
    assert reply[0] == 0

    await run_worker(settings)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.in_streams, state.balance) == (1, 1, 0, 0)
    [row] = await clicks(pool)
    assert (row["ip"], row["user_agent"], row["is_unique"], row["browser"]) == (
        None,
        None,
        True,
        "Chrome",
    )
    stats = await client.get("/api/v1/stats", headers=admin)
    assert (stats.json()["totals"]["clicks"], stats.json()["totals"]["unique_clicks"]) == (1, 1)
    everything = await dump.everything(pool, redis, settings.tracker_data_dir)
    assert IP.encode() not in everything
    assert USER_AGENT.encode() not in everything


async def test_an_undelivered_entry_is_replaced_and_stored_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    click_id = await click(client, catalog["alice_link"]["code"])
    other = await click(client, catalog["bob_link"]["code"])
    (shard,) = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    click_uuid = parse_click_id(click_id)
    assert click_uuid is not None
    assert (
        await streams.erase_stream(redis, [shard], Subject.of_click(click_uuid), kinds.CLICKS) == 1
    )
    # Once erased, an entry is not the subject's data any more: a second pass finds nothing.
    assert (
        await streams.erase_stream(redis, [shard], Subject.of_click(click_uuid), kinds.CLICKS) == 0
    )
    assert await redis.xlen(shard) == 2
    await run_worker(settings)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.balance) == (2, 2, 0)
    rows = await pool.fetch("SELECT click_id, ip::text, user_agent FROM clicks ORDER BY link_id")
    assert [(r["click_id"], r["ip"], r["user_agent"]) for r in rows] == [
        (click_uuid, None, None),
        (parse_click_id(other), IP + "/32", USER_AGENT),
    ]


async def test_dead_letters_lose_the_subject_and_keep_their_place_in_the_count(
    redis: Redis,
) -> None:
    dead = keys.dead_letter_key(keys.shard_keys(keys.CLICKS, 1)[0])
    readable = click_record.encode(
        "0" * 26, 0, 0, 1, 1, "USD", None, {}, IP, USER_AGENT, None, None, False
    )
    letters = [
        (b"not json, from " + IP.encode(), f"not JSON: at {IP}"),
        (readable, f"bad link id in {USER_AGENT}"),
        (b'{"id": "other", "ip": "192.0.2.78"}', "bad click id"),
    ]
    for record, error in letters:
        await redis.xadd(dead, {"entry": "1-0", "record": record, "error": error})
    assert (
        await streams.erase_dead_letters(
            redis, [dead[: -len(":dead")]], Subject.of_ip(IP), kinds.CLICKS
        )
        == 2
    )
    assert await redis.xlen(dead) == 3
    everything = await dump.redis_bytes(redis)
    assert IP.encode() not in everything
    assert USER_AGENT.encode() not in everything
    assert b"192.0.2.78" in everything  # someone else's stays
    entries = [fields for _, fields in await stream_entries(redis, dead)]
    assert {f[b"entry"] for f in entries} == {b"1-0"}
    assert sorted(f[b"error"] for f in entries) == [
        b"bad click id",
        b"bad link id in [erased]",
        b"not JSON: at [erased]",
    ]


async def test_a_long_stream_is_erased_chunk_by_chunk_and_stored_once(
    settings: Settings, pool: Pool, redis: Redis
) -> None:
    (shard,) = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    count = streams.SCAN_COUNT * 2 + 100
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(count):
            click_id, ms = new_click_id()
            pipe.xadd(
                shard,
                {
                    "r": click_record.encode(
                        click_id, ms, 1, 1, 1, "USD", None, {}, IP, USER_AGENT, None, None, False
                    )
                },
            )
        pipe.hincrby(keys.metrics_key(shard), "enqueued", count)
        await pipe.execute()
    assert await streams.erase_stream(redis, [shard], Subject.of_ip(IP), kinds.CLICKS) == count
    assert await redis.xlen(shard) == count
    await run_worker(settings)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.stored, state.balance) == (count, 0)
    assert await pool.fetchval("SELECT count(*) FROM clicks WHERE user_agent IS NULL") == count
    # One visitor (IP and user agent) on one link: one unique click, as without erasure.
    assert await pool.fetchval("SELECT sum(unique_clicks) FROM stats_rollup") == 1
    assert IP.encode() not in await dump.redis_bytes(redis)
