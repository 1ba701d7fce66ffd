"""The click and conversion pipelines on a 3-master Redis Cluster: every shard's keys in
one slot, the shards spread over the masters, every acknowledged click stored once."""

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app import worker as stream_worker
from app.clickid import parse_click_id
from app.db import Pool
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from tests.cluster.nodes import LocalCluster
from tests.helpers import reload_links
from tests.support.conversions import BROWSER, postback


async def serve(client: httpx.AsyncClient, code: str, n: int) -> list[str]:
    """n concurrent redirects; the click IDs acknowledged (302 with the cookie)."""
    responses = await asyncio.gather(
        *(
            client.get(f"/c/{code}", params={"sub1": f"s{i}"}, headers={"User-Agent": BROWSER})
            for i in range(n)
        )
    )
    assert [r.status_code for r in responses] == [302] * n
    return [r.headers["set-cookie"].split(";")[0].split("=", 1)[1] for r in responses]


def uuids(click_ids: list[str]) -> list[str]:
    """The stored form of click IDs, sorted (a multiset: each once, or it shows)."""
    return sorted(str(parse_click_id(c)) for c in click_ids)


async def test_redirects_postbacks_caps_and_workers_run_on_a_cluster(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis_cluster: LocalCluster,
    cluster_client: Redis,
) -> None:
    shards = keys.shard_keys(keys.CLICKS, settings.stream_shards)
    masters = {redis_cluster.master_of(key).port for key in shards}
    assert len(masters) == 3
    await reload_links(app)
    served = await serve(client, shop["alice_link"]["code"], 120)
    # A cap pins its offer's clicks to one shard, whose slot holds its counters too.
    patched = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}",
        json={
            "caps": [{"metric": "clicks", "period": "day", "limit": 2}],
            "fallback_url": "https://shop.example/",
        },
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    await reload_links(app)
    capped = [await serve(client, shop["bob_link"]["code"], 1) for _ in range(5)]
    served += [ids[0] for ids in capped]
    await stream_worker.run(settings, burst=True)
    # Postbacks for the first clicks, over the conversion shards (and their version copies).
    for i, click_id in enumerate(served[:20]):
        response = await postback(client, shop["token"], click_id=click_id, txid=f"T-{i}")
        assert response.status_code == 200, response.text
    await stream_worker.run(settings, burst=True)

    rows = await pool.fetch("SELECT click_id, diverted FROM clicks")
    assert sorted(str(r["click_id"]) for r in rows) == uuids(served)
    assert sum(r["diverted"] == "cap" for r in rows) == 3
    stored = await pool.fetch("SELECT click_id FROM conversions WHERE status = 'approved'")
    assert sorted(str(r["click_id"]) for r in stored) == uuids(served[:20])
    for stream, count in ((keys.CLICKS, 125), (keys.CONVERSIONS, 20)):
        state = await pipeline.pipeline_state(cluster_client, settings, stream)
        assert (state.served, state.stored, state.in_streams, state.balance) == (
            count,
            count,
            0,
            0,
        )
    # Every master took a share of the clicks.
    per_master: dict[int, int] = {}
    for key in shards:
        entries = int(await cluster_client.hget(keys.metrics_key(key), "stored") or 0)
        port = redis_cluster.master_of(key).port
        per_master[port] = per_master.get(port, 0) + entries
    assert len(per_master) == 3
    assert all(n > 0 for n in per_master.values())
