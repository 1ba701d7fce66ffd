"""Nothing acknowledged is lost when processes die: tested by really killing them."""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from app import embedded
from app.clickid import new_click_id, parse_click_id
from app.db import Pool
from app.redirect.cache import LinkTarget
from app.redirect.handler import _record
from app.settings import Settings
from app.streams import keys
from app.streams import worker as stream_worker

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120"}


def worker_process(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "STREAM_SHARDS": str(settings.stream_shards),
        "WORKER_BATCH": "500",
        "LOG_LEVEL": "warning",
    }
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], env=env)


async def test_a_worker_killed_with_sigkill_mid_stream_loses_nothing(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    link = catalog["alice_link"]
    target = LinkTarget(
        link_id=link["id"],
        affiliate_id=link["affiliate_id"],
        offer_id=link["offer_id"],
        parts=None,
        diverted=None,
        fallback_parts=None,
        caps=(),
        currency="USD",
        cookie_tail=b"",
        cookie_tail_https=b"",
        fixed={},
    )
    shards = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    ids = []
    for i in range(20_000):
        click_id, ms = new_click_id()
        ids.append(click_id)
        record = _record(click_id, ms, target, {}, "203.0.113.7", {}, False)
        await redis.xadd(shards[i % len(shards)], {"r": record})

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


async def test_sigterm_finishes_the_batch_in_hand_and_exits(
    catalog: dict[str, Any], settings: Settings, pool: Pool, redis: Redis
) -> None:
    worker = worker_process(settings)
    try:
        await asyncio.sleep(1.5)  # let it start and block on the empty streams
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 10) == 0
    finally:
        worker.kill()


@pytest.fixture
def own_redis() -> Any:
    """A Redis of this test's own, which it may stop and start again."""
    with tempfile.TemporaryDirectory() as tmp:
        port = embedded._free_port()
        proc = embedded._start_redis(Path(tmp), port, durable=True)
        state = {"proc": proc, "port": port, "dir": Path(tmp)}
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
        await app.state.redirector.cache.load()
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
            assert app.state.redirector.queue.counters.values["spooled"] == 50
            own_redis["proc"] = embedded._start_redis(
                own_redis["dir"], own_redis["port"], durable=True
            )
            await click(50)
            assert await redirect_service.replay_spool(app.state.redirector) == 50

    await stream_worker.run(mine, burst=True)
    rows = await pool.fetch("SELECT click_id FROM clicks")
    assert len(rows) == 150
    assert {r["click_id"] for r in rows} == {parse_click_id(c) for c in served}
