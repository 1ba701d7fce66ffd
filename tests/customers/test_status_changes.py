"""A status change that names a customer (a postback for a conversion already stored,
with its `customer_id`, or a record that waited through the customer's erasure) changes
its conversion and leaves the binding alone: it is not taken for a new conversion that
binds, which failed its batch and dead-lettered the change."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import parse_click_id
from app.db import Pool
from app.postbacks.records import ConversionRecord
from app.settings import Settings
from app.streams import keys
from tests.support.conversions import click, conversions, make_shop, postback, run_worker


async def _dead_letters(redis: Redis, settings: Settings) -> int:
    total = 0
    for shard in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        total += await redis.xlen(keys.dead_letter_key(shard))
    return total


async def test_an_approval_without_txid_naming_a_customer_approves_its_conversion(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    settings.attribution_retry_base_s = 0.01
    shop = await make_shop(client, admin)
    alice = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, status="pending")
    await run_worker(settings)

    response = await postback(
        client, shop["token"], click_id=alice, status="approved", customer_id="C-1"
    )
    assert response.status_code == 200
    await run_worker(settings)

    rows = await conversions(pool)
    assert [(r["status"], r["affiliate_id"]) for r in rows] == [("approved", shop["alice"]["id"])]
    assert await _dead_letters(redis, settings) == 0


async def test_an_approval_without_txid_after_a_rebinding_leaves_the_binding(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    settings.attribution_retry_base_s = 0.01
    shop = await make_shop(client, admin)  # last_click: Bob's sale rebinds the customer
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, status="pending", customer_id="C-1")
    await run_worker(settings)
    await postback(client, shop["token"], click_id=bob, customer_id="C-1")
    await run_worker(settings)

    await postback(client, shop["token"], click_id=alice, status="approved", customer_id="C-1")
    await run_worker(settings)

    rows = await conversions(pool)
    assert [(r["status"], r["affiliate_id"]) for r in rows] == [
        ("approved", shop["alice"]["id"]),
        ("approved", shop["bob"]["id"]),
    ]
    assert await pool.fetchval("SELECT affiliate_id FROM customers") == shop["bob"]["id"]
    assert await _dead_letters(redis, settings) == 0


async def test_a_status_change_that_waited_through_an_erasure_changes_its_conversion(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    settings.attribution_retry_base_s = 0.01
    shop = await make_shop(client, admin)
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(
        client, shop["token"], click_id=alice, txid="t1", customer_id="C-1", status="pending"
    )
    await run_worker(settings)
    await postback(client, shop["token"], click_id=bob, txid="t2", customer_id="C-1")
    await run_worker(settings)
    customer = (await conversions(pool))[0]["customer_id"]
    erased = await client.delete(f"/api/v1/customers/{customer}", headers=admin)
    assert erased.status_code == 200, erased.text
    # The approval of t1 as it is left in the stream when it waited through the erasure.
    record = ConversionRecord(
        via="postback",
        advertiser_id=shop["advertiser"]["id"],
        click_id=parse_click_id(alice),
        txid="t1",
        amount=None,
        payout=None,
        currency=None,
        status="approved",
        event=None,
        received_us=time.time_ns() // 1000,
        erased_customer=customer,
    )
    shard = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)[0]
    await redis.xadd(shard, {"r": record.encode()})
    await run_worker(settings)

    statuses = {r["txid"]: r["status"] for r in await conversions(pool)}
    assert statuses == {"t1": "approved", "t2": "approved"}
    assert await pool.fetchval("SELECT affiliate_id FROM customers") == shop["bob"]["id"]
    assert await _dead_letters(redis, settings) == 0
