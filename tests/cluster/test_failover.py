"""A master fails over to its replica while clicks are acknowledged.

Replication is asynchronous: the replica is cut off from its master (paused, its link
dropped) so that it falls behind, the master takes clicks and is killed, the replica
resumes and is promoted. Without WAIT the
clicks only that master held are lost, though each got its 302; with REDIS_WAIT_REPLICAS
each group commit the replica did not confirm is spooled as well, and nothing
acknowledged is lost.
"""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import worker as stream_worker
from app.db import Pool
from app.main import TrackerApp
from app.ops import pipeline
from app.redis import create_redis
from app.settings import Settings
from app.streams import keys
from tests.cluster.nodes import LocalCluster
from tests.cluster.test_cluster import serve, uuids
from tests.helpers import reload_links

REPLAY_TIMEOUT_S = 60.0


@pytest.fixture(params=[1, 0], ids=["wait-1-replica", "no-wait"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    settings.redis_wait_replicas = request.param
    # Well within the tests' 2 s budget, and long enough for a loaded CI machine.
    settings.redis_wait_ms = 300
    return settings


async def replayed(app: TrackerApp) -> None:
    """Until the redirect's replayer has emptied its spool (a chunk the replica does not
    confirm stays in it, and goes again)."""
    spool = app.redirector.queue.spool
    for _ in range(int(REPLAY_TIMEOUT_S * 10)):
        if not spool.has_files():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the spool was not replayed")


async def test_a_failover_loses_no_acknowledged_click_with_wait(
    app: FastAPI,
    client: httpx.AsyncClient,
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis_cluster: LocalCluster,
) -> None:
    assert isinstance(app, TrackerApp)
    code = catalog["alice_link"]["code"]
    await reload_links(app)
    shard = keys.shard_keys(keys.CLICKS, settings.stream_shards)[0]
    victim = redis_cluster.master_of(shard)
    replica = redis_cluster.replica_of(victim)
    served = await serve(client, code, 40)

    redis_cluster.cut_off(replica, victim, shard)  # it falls behind its master
    served += await serve(client, code, 40)
    redis_cluster.kill(victim)
    redis_cluster.resume(replica)
    redis_cluster.wait_master(replica)
    # After the failover the new master has no replica yet: WAIT cannot be confirmed.
    served += await serve(client, code, 40)
    redis_cluster.restart(victim)  # back as the replica of its old replica
    redis_cluster.wait_in_sync(victim)
    await replayed(app)
    await stream_worker.run(settings, burst=True)

    stored = sorted(str(r["click_id"]) for r in await pool.fetch("SELECT click_id FROM clicks"))
    if not settings.redis_wait_replicas:
        # The gap WAIT closes: 302s whose clicks only the dead master held.
        assert len(stored) < len(served)
        assert set(stored) < set(uuids(served))
        return
    assert stored == uuids(served)
    assert app.redirector.queue.spooled > 0
    redis = create_redis(str(settings.redis_url))
    try:
        state = await pipeline.pipeline_state(redis, settings)
    finally:
        await redis.aclose()
    assert (state.in_streams, state.in_spool, state.balance) == (0, 0, 0)
    assert state.stored == state.served >= len(served)
