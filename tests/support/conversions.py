"""Helpers for conversion tests (postbacks, attribution, ops): clicks through the redirect,
postbacks, the worker."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app import worker as stream_worker
from app.attribution import consumer as attribution_consumer
from app.db import Pool
from app.settings import Settings
from app.streams import keys
from tests.helpers import create, reload_links

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


async def make_shop(
    client: httpx.AsyncClient, admin: dict[str, str], **offer: Any
) -> dict[str, Any]:
    """An advertiser, one offer (fields as given), affiliates Alice and Bob with a link each."""
    advertiser = await create(client, "advertisers", {"name": "Acme"}, admin)
    body = {
        "advertiser_id": advertiser["id"],
        "name": "Shoes",
        "url": "https://shop.example/landing?cid={click_id}",
        "revenue": {"type": "fixed", "value": "4.00"},
        "payout": {"type": "fixed", "value": "2.50"},
        **offer,
    }
    made = await create(client, "offers", body, admin)
    alice = await create(client, "affiliates", {"name": "Alice"}, admin)
    bob = await create(client, "affiliates", {"name": "Bob"}, admin)
    links = {
        name: await create(
            client, "links", {"affiliate_id": who["id"], "offer_id": made["id"]}, admin
        )
        for name, who in (("alice", alice), ("bob", bob))
    }
    return {
        "advertiser": advertiser,
        "token": advertiser["postback_token"],
        "offer": made,
        "alice": alice,
        "bob": bob,
        "alice_link": links["alice"],
        "bob_link": links["bob"],
    }


async def click(app: FastAPI, client: httpx.AsyncClient, code: str, **subs: str) -> str:
    """One click through the redirect; its click ID (from the tclid cookie)."""
    await reload_links(app)
    response = await client.get(f"/c/{code}", params=subs, headers={"User-Agent": BROWSER})
    assert response.status_code == 302, response.text
    client.cookies.clear()
    return response.headers["set-cookie"].split(";")[0].split("=", 1)[1]


async def run_worker(settings: Settings) -> None:
    """Drain the click and conversion streams once (burst mode)."""
    await stream_worker.run(settings, burst=True)


async def postback(client: httpx.AsyncClient, token: str, **params: Any) -> httpx.Response:
    return await client.get("/postback", params={"token": token, **params})


async def conversions(pool: Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM conversions ORDER BY id")


async def rollup_totals(pool: Pool) -> dict[str, Any]:
    row = await pool.fetchrow(
        """SELECT coalesce(sum(clicks), 0) AS clicks, coalesce(sum(conversions), 0) AS conversions,
                  coalesce(sum(pending_conversions), 0) AS pending,
                  coalesce(sum(rejected_conversions), 0) AS rejected,
                  coalesce(sum(revenue), 0) AS revenue, coalesce(sum(payout), 0) AS payout
           FROM stats_rollup"""
    )
    assert row is not None
    return dict(row)


async def stream_length(redis: Redis, settings: Settings) -> int:
    total = 0
    for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        total += await redis.xlen(key)
    return total


async def retry_count(redis: Redis, settings: Settings) -> int:
    total = 0
    for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        total += await redis.zcard(keys.retry_key(key))
    return total


async def make_retries_due(pool: Pool, redis: Redis, settings: Settings) -> int:
    """Put every waiting retry back onto its stream, as if its backoff had passed: the
    injected clock of `move_due_retries`, so tests never sleep for a retry."""
    import time

    attributor = attribution_consumer.Attributor(pool, redis, settings)
    return await attributor.move_due_retries(now=time.time() + 10**9)


async def run_conversion_consumers(
    settings: Settings, pool: Pool, redis: Redis, *, consumers: int = 1, batch: int = 2000
) -> None:
    """Only the conversions stream, with several consumers at once (as several workers)."""
    runners = []
    for i in range(consumers):
        attributor = attribution_consumer.Attributor(pool, redis, settings)
        consumer = stream_worker.StreamConsumer(
            redis=redis,
            stream_keys=keys.shard_keys(keys.CONVERSIONS, settings.stream_shards),
            handler=attributor.handle,
            consumer=f"test-{i}",
            batch=batch,
            on_poll=attributor.move_due_retries,
        )
        await consumer.ensure_groups()
        runners.append(consumer.run(stop=asyncio.Event(), burst=True))
    await asyncio.gather(*runners)


async def old_click(
    redis: Redis, settings: Settings, link: dict[str, Any], *, seconds_ago: float
) -> str:
    """A click made `seconds_ago`, queued as the redirect would have queued it then."""
    import time
    import uuid

    import orjson

    from app.clickid import format_click_id, new_click_id, parse_click_id

    ms = time.time_ns() // 1_000_000 - int(seconds_ago * 1000)
    fresh = parse_click_id(new_click_id()[0])
    assert fresh is not None
    click_uuid = uuid.UUID(int=(ms << 80) | (fresh.int & ((1 << 80) - 1)))
    record = {
        "id": format_click_id(click_uuid),
        "t": ms,
        "l": link["id"],
        "a": link["affiliate_id"],
        "o": link["offer_id"],
        "s": {},
        "ip": "203.0.113.9",
        "ua": BROWSER,
        "ref": None,
        "al": None,
        "d": None,
        "h": False,
        "c": "USD",
    }
    await redis.xadd(
        keys.shard_keys(keys.CLICKS, settings.stream_shards)[0], {"r": orjson.dumps(record)}
    )
    return format_click_id(click_uuid)
