"""Nothing acknowledged is lost when processes die: tested by really killing them."""

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from redis.asyncio import Redis

from app import embedded
from app import worker as stream_worker
from app.clickid import new_click_id, parse_click_id
from app.clicks import record as click_record
from app.db import Pool
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from app.streams.durable_queue import DurableQueue
from app.streams.producer import StreamProducer
from tests.helpers import reload_links, stream_entries

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120"}


def server_environment(settings: Settings, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "STREAM_SHARDS": str(settings.stream_shards),
        "TRACKER_DATA_DIR": str(settings.tracker_data_dir),
        "MIGRATE_ON_START": "false",
        "LOG_LEVEL": "warning",
        **extra,
    }


def worker_process(
    settings: Settings, *, batch: int = 500, fault: str = ""
) -> subprocess.Popen[bytes]:
    env = server_environment(settings, WORKER_BATCH=str(batch), TRACKER_FAULT=fault)
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)


def web_process(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=server_environment(settings))


async def enqueue_clicks(catalog: dict[str, Any], settings: Settings, n: int) -> list[str]:
    """n clicks on Alice's link, through the redirect's own producer script (so that they
    are counted as the redirect counts them); their click IDs."""
    link = catalog["alice_link"]
    shards = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    producer = StreamProducer(str(settings.redis_url), shards, budget_s=30, max_batch=500)
    producer.start()
    ids, futures = [], []
    try:
        for _ in range(n):
            click_id, ms = new_click_id()
            ids.append(click_id)
            record = click_record.encode(
                click_id,
                ms,
                link["id"],
                link["affiliate_id"],
                link["offer_id"],
                "USD",
                None,
                {},
                "203.0.113.7",
                None,
                None,
                None,
                False,
            )
            futures.append(producer.enqueue(record))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return ids


async def pending(redis: Redis, stream: str, settings: Settings) -> int:
    total = 0
    for key in keys.shard_keys(stream, settings.stream_shards):
        total += (await redis.xpending(key, keys.GROUP))["pending"]
    return total


async def test_a_worker_killed_with_sigkill_mid_stream_loses_nothing(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    ids = await enqueue_clicks(catalog, settings, 20_000)

    worker = worker_process(settings)
    try:
        async with asyncio.timeout(30):
            # Another process writes the rows: polling is the only way to see them.
            while await pool.fetchval("SELECT count(*) FROM clicks") < 2_000:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait()
    stored_before = await pool.fetchval("SELECT count(*) FROM clicks")
    assert stored_before < 20_000, "the worker finished before it could be killed"

    await stream_worker.run(settings, burst=True)  # takes over the dead consumer's entries
    rows = await pool.fetch("SELECT click_id FROM clicks")
    assert len(rows) == 20_000
    assert {r["click_id"] for r in rows} == {parse_click_id(i) for i in ids}
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.balance) == (20_000, 20_000, 0)


async def test_a_worker_killed_between_commit_and_ack_has_its_clicks_counted_once(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    ids = await enqueue_clicks(catalog, settings, 300)
    worker = worker_process(settings, batch=100, fault="kill-after-commit")
    try:
        assert await asyncio.to_thread(worker.wait, 60) == -signal.SIGKILL
    finally:
        worker.kill()
    # The first batch is in PostgreSQL, but not acked (nor counted) in Redis.
    committed = await pool.fetchval("SELECT count(*) FROM clicks")
    assert committed == 100
    assert await pending(redis, keys.CLICKS, settings) >= committed
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.balance) == (300, 0, 0)

    # The next worker takes the entries over: the committed ones insert nothing now,
    # and are counted as stored all the same.
    counters = await stream_worker.run(settings, burst=True)
    assert (counters.stored, counters.inserted) == (300, 200)
    rows = await pool.fetch("SELECT click_id FROM clicks")
    assert {r["click_id"] for r in rows} == {parse_click_id(i) for i in ids}
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.in_streams, state.balance) == (300, 300, 0, 0)


async def test_a_worker_killed_between_commit_and_ack_has_its_conversions_counted_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    response = await client.get(f"/c/{catalog['alice_link']['code']}", headers=BROWSER)
    click_id = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    await stream_worker.run(settings, burst=True)
    token = catalog["advertiser"]["postback_token"]
    # 30 orders, each reported twice: the repeats change nothing but are served.
    for i in (*range(30), *range(30)):
        response = await client.get(
            "/postback", params={"token": token, "click_id": click_id, "txid": f"T{i}"}
        )
        assert response.status_code == 200, response.text

    worker = worker_process(settings, batch=10, fault="kill-after-commit")
    try:
        assert await asyncio.to_thread(worker.wait, 60) == -signal.SIGKILL
    finally:
        worker.kill()
    assert 0 < await pool.fetchval("SELECT count(*) FROM conversions") <= 10
    assert await pending(redis, keys.CONVERSIONS, settings) > 0
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.balance) == (60, 0, 0)

    await stream_worker.run(settings, burst=True)
    assert await pool.fetchval("SELECT count(*) FROM conversions") == 30
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.in_streams, state.balance) == (60, 60, 0, 0)


async def test_sigterm_finishes_the_batch_in_hand_and_exits(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis, tmp_path: Path
) -> None:
    ids = await enqueue_clicks(catalog, settings, 300)
    # (stream key, entry ID) -> record, read now: the worker trims acked entries away.
    records: dict[tuple[str, ...], bytes] = {}
    for key in keys.shard_keys(keys.CLICKS, settings.stream_shards):
        records.update({(key, _text(i)): f[b"r"] for i, f in await stream_entries(redis, key)})
    held = tmp_path / "held"
    worker = worker_process(settings, batch=100, fault=f"hold-batch:{held}")
    try:
        async with asyncio.timeout(60):
            # The worker is another process: its file is the only way to see it.
            while not held.exists():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        # It holds a batch it has read (pending, not stored yet) when it is told to stop.
        batch = [tuple(line.split()) for line in held.read_text().splitlines()]
        assert len(batch) == 200  # 100 from each shard
        assert await pending(redis, keys.CLICKS, settings) == 200
        assert await pool.fetchval("SELECT count(*) FROM clicks") == 0
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0
    finally:
        worker.kill()
    # Every entry of that batch committed and acked, once; nothing else read.
    batch_clicks = {parse_click_id(orjson.loads(records[i])["id"]) for i in batch}
    rows = await pool.fetch("SELECT click_id FROM clicks")
    assert len(rows) == 200
    assert {r["click_id"] for r in rows} == batch_clicks
    assert batch_clicks < {parse_click_id(i) for i in ids}
    assert await pending(redis, keys.CLICKS, settings) == 0
    state = await pipeline.pipeline_state(redis, settings)
    assert (state.served, state.stored, state.in_streams, state.balance) == (300, 200, 100, 0)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture
def own_redis() -> Any:
    """A Redis of this test's own, which it may stop and start again."""
    with tempfile.TemporaryDirectory() as tmp:
        port = embedded.free_port()
        proc = embedded.start_redis(Path(tmp), port, durable=True)
        state: dict[str, Any] = {"proc": proc, "port": port, "dir": Path(tmp)}
        yield state
        state["proc"].terminate()
        state["proc"].wait()


async def test_redis_stopped_mid_run_visitors_still_redirected_and_every_click_stored_once(
    settings: Settings, catalog: dict[str, Any], pool: Pool, own_redis: dict[str, Any]
) -> None:
    from app.main import create_app
    from app.redirect import service as redirect_service

    url = f"redis://127.0.0.1:{own_redis['port']}/0"
    mine = settings.model_copy(update={"redis_url": url, "redis_budget_ms": 50})
    app = create_app(mine)
    served: list[str] = []
    code = catalog["alice_link"]["code"]
    async with LifespanManager(app):
        await reload_links(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def click(n: int) -> None:
                for _ in range(n):
                    response = await client.get(f"/c/{code}", headers=BROWSER)
                    assert response.status_code == 302
                    served.append(response.headers["set-cookie"].split(";")[0].split("=")[1])

            await click(50)
            own_redis["proc"].terminate()  # Redis goes away (clean shutdown, AOF flushed)
            own_redis["proc"].wait()
            await click(50)
            assert app.state.redirector.queue.spooled == 50
            own_redis["proc"] = embedded.start_redis(
                own_redis["dir"], own_redis["port"], durable=True
            )
            await click(50)
            # Redis just restarted may miss the budget for a batch: spooled too, then.
            spooled = app.state.redirector.queue.spooled
            assert spooled >= 50
            # The spool's own replayer (every second) may have moved some of them already.
            await redirect_service.replay_spool(app.state.redirector)
            assert not app.state.redirector.queue.spool.has_files()

    await stream_worker.run(mine, burst=True)
    rows = await pool.fetch("SELECT click_id FROM clicks")
    assert len(rows) == 150
    assert {r["click_id"] for r in rows} == {parse_click_id(c) for c in served}
    own = Redis.from_url(url)
    try:
        state = await pipeline.pipeline_state(own, mine)
    finally:
        await own.aclose()
    # A record spooled though Redis took it after all is served, and stored, twice (one row).
    assert (state.spooled, state.served - state.stored, state.balance) == (spooled, 0, 0)
    assert 150 <= state.served <= 150 + (spooled - 50)


async def test_a_web_process_killed_under_load_leaves_the_balance_at_zero(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    """Clicks its visitors got a 302 for are all stored, and every click Redis took is
    counted, though the process dies at once."""
    port = embedded.free_port()
    web = web_process(settings, port)
    redirected: list[str] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            async with asyncio.timeout(60):
                while True:  # another process: polling is the only way to see it start
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/health")).status_code == 200:
                            break
                    await asyncio.sleep(0.05)
            code = catalog["alice_link"]["code"]

            async def visitor() -> None:
                while True:
                    try:
                        response = await client.get(f"/c/{code}", headers=BROWSER)
                    except httpx.TransportError:  # the server is gone
                        return
                    assert response.status_code == 302
                    cookie = response.headers["set-cookie"].split(";")[0]
                    redirected.append(cookie.split("=", 1)[1])
                    if len(redirected) >= 400 and web.poll() is None:
                        web.send_signal(signal.SIGKILL)

            async with asyncio.timeout(60):
                await asyncio.gather(*(visitor() for _ in range(40)))
    finally:
        web.kill()
        web.wait()
    assert web.returncode == -signal.SIGKILL
    # Clicks it spooled (Redis slower than the budget) are replayed by another process.
    queue = DurableQueue(redis, stream=keys.CLICKS, settings=settings)
    try:
        await queue.replay()
    finally:
        await queue.stop()
    await stream_worker.run(settings, burst=True)
    stored = {r["click_id"] for r in await pool.fetch("SELECT click_id FROM clicks")}
    assert {parse_click_id(c) for c in redirected} <= stored
    state = await pipeline.pipeline_state(redis, settings)
    assert state.served >= len(redirected)
    assert (state.stored, state.in_streams, state.in_spool) == (state.served, 0, 0)
    assert state.balance == 0
