"""Every 302 served ends up as exactly one stored click."""

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app import worker as stream_worker
from app.clickid import parse_click_id
from app.db import Pool
from app.ops import pipeline
from app.redirect import service as redirect_service
from app.settings import Settings
from app.streams import keys
from app.streams.outcome import BatchOutcome
from app.streams.producer import StreamProducer
from app.streams.spool import REPLAY_CHUNK
from tests.helpers import reload_links, stream_entries

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


async def serve_clicks(app: FastAPI, client: httpx.AsyncClient, code: str, n: int) -> list[str]:
    await reload_links(app)
    responses = await asyncio.gather(
        *(
            client.get(f"/c/{code}", params={"sub1": f"s{i}"}, headers={"User-Agent": BROWSER})
            for i in range(n)
        )
    )
    assert all(r.status_code == 302 for r in responses)
    return [r.headers["set-cookie"].split(";")[0].split("=")[1] for r in responses]


async def stored_ids(pool: Pool) -> list[str]:
    rows = await pool.fetch("SELECT click_id FROM clicks")
    return [str(r["click_id"]) for r in rows]


async def test_concurrent_redirects_store_one_row_each_even_after_redelivery(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    served = await serve_clicks(app, client, catalog["alice_link"]["code"], 200)
    # Redirect i got its own click ID, and that click's row carries redirect i's sub1.
    expected = {parse_click_id(click_id): f"s{i}" for i, click_id in enumerate(served)}
    assert len(expected) == 200
    shards = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    records = [fields[b"r"] for key in shards for _, fields in await stream_entries(redis, key)]
    counters = await stream_worker.run(settings, burst=True)
    assert (counters.stored, counters.inserted) == (200, 200)

    async def rows() -> dict[Any, str]:
        found = await pool.fetch("SELECT click_id, sub1 FROM clicks")
        assert len(found) == len({r["click_id"] for r in found})
        return {r["click_id"]: r["sub1"] for r in found}

    assert await rows() == expected
    # The same records again on the stream, through the redirect's own script (as when
    # Redis took a batch after its budget ran out, and the spool replayed it too).
    producer = StreamProducer(str(settings.redis_url), shards, budget_s=5, max_batch=64)
    producer.start()
    try:
        await asyncio.gather(*(producer.enqueue(record) for record in records))
    finally:
        await producer.stop()
    again = await stream_worker.run(settings, burst=True)
    assert (again.read, again.stored, again.inserted) == (200, 200, 0)
    assert await rows() == expected
    totals = await pool.fetchrow(
        "SELECT sum(clicks) AS clicks, sum(unique_clicks) AS uniq, sum(bot_clicks) AS bots"
        " FROM stats_rollup"
    )
    assert totals is not None
    # One visitor (same IP and user agent) on one link: one unique click.
    assert (totals["clicks"], totals["uniq"], totals["bots"]) == (200, 1, 0)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.in_streams, state.balance) == (400, 400, 0, 0)


async def test_click_rows_carry_the_link_and_sub_ids(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    await reload_links(app)
    response = await client.get(
        f"/c/{catalog['bob_link']['code']}",
        params={"sub1": "ü" * 1100, "source": "fb", "aff_click_id": "abc"},
        headers={
            "User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
            "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 "
            "Safari/604.1",
            "Referer": "https://news.example/",
        },
    )
    assert response.status_code == 302
    await stream_worker.run(settings, burst=True)
    row = await pool.fetchrow("SELECT * FROM clicks")
    assert row is not None
    assert row["link_id"] == catalog["bob_link"]["id"]
    assert row["affiliate_id"] == catalog["bob"]["id"]
    assert row["sub1"] == "ü" * 1024
    assert (row["source"], row["aff_click_id"]) == ("fb", "abc")
    assert (row["device"], row["os"], row["is_bot"]) == ("mobile", "iOS", False)
    assert row["is_unique"] is True
    assert row["referer"] == "https://news.example/"


async def test_a_poison_entry_goes_to_the_dead_letter_stream(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await serve_clicks(app, client, catalog["alice_link"]["code"], 3)
    key = keys.shard_keys(keys.CLICKS, settings.stream_shards)[0]
    await redis.xadd(key, {"r": b"{not json"})
    await redis.xadd(key, {"r": orjson.dumps({"id": "x", "t": 1})})
    counters = await stream_worker.run(settings, burst=True)
    assert counters.dead_lettered == 2
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 3
    dead = await stream_entries(redis, keys.dead_letter_key(key))
    assert len(dead) == 2
    assert {d[1][b"record"] for d in dead} == {b"{not json", orjson.dumps({"id": "x", "t": 1})}
    assert all(d[1][b"error"] for d in dead)
    # Nothing is left pending: the poison entries were acked with their dead letter.
    assert (await redis.xpending(key, keys.GROUP))["pending"] == 0


async def test_a_worker_that_dies_mid_batch_loses_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await serve_clicks(app, client, catalog["alice_link"]["code"], 50)

    async def crash(entries: list[tuple[str, bytes]]) -> BatchOutcome:
        raise ConnectionResetError("killed mid-batch")

    doomed = stream_worker.StreamConsumer(
        redis=redis,
        stream_keys=keys.shard_keys(keys.CLICKS, settings.stream_shards),
        handler=crash,
        consumer="doomed",
    )
    await doomed.ensure_groups()
    with pytest.raises(ConnectionResetError):
        await doomed.read_new(None)
    pending = 0
    for key in keys.shard_keys(keys.CLICKS, settings.stream_shards):
        pending += (await redis.xpending(key, keys.GROUP))["pending"]
    assert pending == 50
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 0
    counters = await stream_worker.run(settings, burst=True)
    assert counters.reclaimed == 50
    assert await pool.fetchval("SELECT count(*) FROM clicks") == 50
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.balance) == (50, 50, 0)


async def spool_clicks(app: FastAPI, client: httpx.AsyncClient, code: str, n: int) -> list[str]:
    """n clicks served while Redis is down (so spooled); their click IDs."""
    async with app.state.redirector.queue.redis_unreachable():
        return await serve_clicks(app, client, code, n)


async def test_redis_down_spools_and_replays_every_click_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    redirector = app.state.redirector
    served = await spool_clicks(app, client, catalog["alice_link"]["code"], 40)
    assert redirector.queue.spooled == 40
    assert redirector.queue.spool.has_files()
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.in_spool, state.balance) == (40, 40, 0)
    assert await redirect_service.replay_spool(redirector) == 40
    assert not redirector.queue.spool.has_files()
    await stream_worker.run(settings, burst=True)
    assert sorted(await stored_ids(pool)) == sorted(str(parse_click_id(c)) for c in served)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.replayed, state.stored, state.balance) == (40, 40, 40, 0)


async def test_a_replay_that_failed_midway_sends_each_chunk_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    """The replayer dies after Redis took the first chunk of a file, before it deleted
    the file: the next replay sends only the rest, so each click is served once."""
    n = REPLAY_CHUNK + 100
    served = await spool_clicks(app, client, catalog["alice_link"]["code"], n)
    queue = app.state.redirector.queue
    chunks: list[str] = []

    async def dies_after_one_chunk(chunk: str, records: list[bytes]) -> int:
        if chunks:
            raise ConnectionResetError("Redis went away")
        chunks.append(chunk)
        return int(await queue.producer.send_now(chunk, records))

    with pytest.raises(ConnectionResetError):
        await queue.spool.replay(dies_after_one_chunk)
    assert queue.spool.has_files()
    assert await redirect_service.replay_spool(app.state.redirector) == 100
    assert not queue.spool.has_files()
    shards = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    assert sum([await redis.xlen(key) for key in shards]) == n
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.replayed, state.in_streams, state.balance) == (n, n, n, 0)
    await stream_worker.run(settings, burst=True)
    assert sorted(await stored_ids(pool)) == sorted(str(parse_click_id(c)) for c in served)
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.balance) == (n, n, 0)
