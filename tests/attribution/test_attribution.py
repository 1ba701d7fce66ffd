"""Window, late clicks, unattributed conversions, dedupe and reversals, outbox."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.clickid import new_click_id, parse_click_id
from app.db import Pool
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from tests.support.conversions import (
    click,
    conversions,
    make_retries_due,
    make_shop,
    old_click,
    postback,
    retry_count,
    rollup_totals,
    run_conversion_consumers,
    run_worker,
)


async def test_outside_the_window_is_rejected_with_reason_window(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    shop = await make_shop(client, admin, attribution_window_hours=1)
    stale = await old_click(redis, settings, shop["alice_link"], seconds_ago=3700)
    fresh = await old_click(redis, settings, shop["alice_link"], seconds_ago=3500)
    await run_worker(settings)
    await postback(client, shop["token"], click_id=stale, txid="OLD")
    await postback(client, shop["token"], click_id=fresh, txid="NEW")
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert (rows["OLD"]["status"], rows["OLD"]["reason"]) == ("rejected", "window")
    assert rows["OLD"]["affiliate_id"] == shop["alice"]["id"]
    assert (rows["NEW"]["status"], rows["NEW"]["reason"]) == ("approved", None)
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["rejected"], totals["payout"]) == (1, 1, Decimal("2.50"))


async def test_a_postback_before_its_click_waits_then_is_attributed(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    settings.attribution_retry_base_s = 3600  # due only when the test's clock says so
    click_id = await click(app, client, shop["bob_link"]["code"])  # queued, not stored
    await postback(client, shop["token"], click_id=click_id, txid="EARLY")
    await run_conversion_consumers(settings, pool, redis)
    assert await conversions(pool) == []
    assert await retry_count(redis, settings) == 1
    await run_worker(settings)  # stores the click; the retry is not due yet
    assert await conversions(pool) == []
    assert await retry_count(redis, settings) == 1
    assert await make_retries_due(pool, redis, settings) == 1
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["status"], row["affiliate_id"], row["click_id"]) == (
        "approved",
        shop["bob"]["id"],
        parse_click_id(click_id),
    )
    assert await retry_count(redis, settings) == 0


async def test_an_unknown_click_is_kept_as_unattributed_after_the_deadline(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    admin: dict[str, str],
) -> None:
    ghost = new_click_id()[0]
    await postback(client, shop["token"], click_id=ghost, txid="G-1", amount="5")
    await run_worker(settings)
    assert await conversions(pool) == []  # waiting: the click may still come
    assert await retry_count(redis, settings) == 1
    settings.attribution_deadline_s = 0
    assert await make_retries_due(pool, redis, settings) == 1
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["status"], row["txid"], row["affiliate_id"]) == ("unattributed", "G-1", None)
    assert row["click_id"] == parse_click_id(ghost)
    assert row["advertiser_id"] == shop["advertiser"]["id"]
    assert await retry_count(redis, settings) == 0
    listed = await client.get(
        "/api/v1/conversions", params={"status": "unattributed"}, headers=admin
    )
    assert [c["txid"] for c in listed.json()["items"]] == ["G-1"]
    # Not in anyone's stats, and a repeat changes nothing.
    assert (await rollup_totals(pool))["conversions"] == 0
    await postback(client, shop["token"], click_id=ghost, txid="G-1", status="rejected")
    await run_worker(settings)
    assert [r["status"] for r in await conversions(pool)] == ["unattributed"]


async def test_a_click_of_another_advertiser_is_never_credited(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    other = await make_shop(client, admin)
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await postback(client, other["token"], click_id=click_id, txid="STOLEN")
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["status"], row["reason"], row["affiliate_id"]) == (
        "unattributed",
        "advertiser",
        None,
    )


async def test_a_hundred_identical_postbacks_at_once_make_one_conversion(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    responses = await asyncio.gather(
        *(
            postback(client, shop["token"], click_id=click_id, txid="DUP", amount="9")
            for _ in range(100)
        )
    )
    assert {r.status_code for r in responses} == {200}, responses[0].text
    # Four consumers, small batches: the duplicates race across "workers".
    await run_conversion_consumers(settings, pool, redis, consumers=4, batch=7)
    [row] = await conversions(pool)
    assert row["status"] == "approved"
    assert await pool.fetchval("SELECT count(*) FROM conversion_history") == 1
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["revenue"], totals["payout"]) == (
        1,
        Decimal("4.00"),
        Decimal("2.50"),
    )


async def test_reversals_move_the_money_and_keep_history(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=click_id, txid="R", status="pending")
    await run_worker(settings)
    assert (await rollup_totals(pool))["pending"] == 1
    await postback(client, shop["token"], click_id=click_id, txid="R", status="approved")
    await run_worker(settings)
    totals = await rollup_totals(pool)
    assert (totals["pending"], totals["conversions"], totals["payout"]) == (0, 1, Decimal("2.50"))
    # 50 copies of a reversal at once, over several consumers: one change.
    await asyncio.gather(
        *(
            postback(client, shop["token"], click_id=click_id, txid="R", status="rejected")
            for _ in range(50)
        )
    )
    await run_conversion_consumers(settings, pool, redis, consumers=3, batch=5)
    [row] = await conversions(pool)
    assert row["status"] == "rejected"
    history = await pool.fetch("SELECT old_status, new_status FROM conversion_history ORDER BY id")
    assert [(h["old_status"], h["new_status"]) for h in history] == [
        (None, "pending"),
        ("pending", "approved"),
        ("approved", "rejected"),
    ]
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["pending"], totals["rejected"]) == (0, 0, 1)
    assert (totals["revenue"], totals["payout"]) == (Decimal("0"), Decimal("0"))


async def test_the_last_status_sent_wins(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    for status in ("pending", "approved", "approved", "rejected", "approved"):
        await postback(client, shop["token"], click_id=click_id, txid="B", status=status)
    await run_worker(settings)
    [row] = await conversions(pool)
    # The last status sent wins, even though the five went over two stream shards and
    # were not necessarily processed in the order sent.
    assert row["status"] == "approved"
    history = await pool.fetch("SELECT new_status FROM conversion_history ORDER BY id")
    assert history[-1]["new_status"] == "approved"
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["pending"], totals["rejected"]) == (1, 0, 0)
    assert totals["payout"] == Decimal("2.50")


async def test_outbox_rows_for_attributed_conversions_and_changes(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    for who, on in (("alice", "all"), ("bob", "approved")):
        response = await client.patch(
            f"/api/v1/affiliates/{shop[who]['id']}",
            json={
                "postback_url": "https://aff.example/pb?cid={aff_click_id}&p={payout}&s={status}&t={txid}",
                "postback_on": on,
            },
            headers=admin,
        )
        assert response.status_code == 200, response.text
    alice = await click(app, client, shop["alice_link"]["code"], aff_click_id="X1")
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="A", status="pending")
    await postback(client, shop["token"], click_id=bob, txid="B", status="pending")
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="A", status="approved")
    await postback(client, shop["token"], click_id=bob, txid="B", status="approved")
    await run_worker(settings)
    deliveries = await pool.fetch(
        "SELECT affiliate_id, conversion_status, url FROM deliveries ORDER BY id"
    )
    got = [(d["affiliate_id"], d["conversion_status"], d["url"]) for d in deliveries]
    # Alice's in the order of her conversion's changes; hers and Bob's, each sent to a
    # stream shard in turn, in the order the shards' batches were taken.
    assert [d for d in got if d[0] == shop["alice"]["id"]] == [
        (shop["alice"]["id"], "pending", "https://aff.example/pb?cid=X1&p=2.50&s=pending&t=A"),
        (shop["alice"]["id"], "approved", "https://aff.example/pb?cid=X1&p=2.50&s=approved&t=A"),
    ]
    assert [d for d in got if d[0] != shop["alice"]["id"]] == [
        (shop["bob"]["id"], "approved", "https://aff.example/pb?cid=&p=2.50&s=approved&t=B"),
    ]


async def test_a_pixel_whose_click_never_comes_is_discarded_and_counted(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    """Click IDs are forgeable: a pixel whose click is not stored by PIXEL_DEADLINE_S leaves
    no row (not even unattributed, whatever offer it names) and no dead letter; it is
    counted as discarded, and the conversions balance stays 0."""
    settings.attribution_retry_base_s = 3600
    named = await client.get(
        "/pixel.gif", params={"click_id": new_click_id()[0], "offer_id": shop["offer"]["id"]}
    )
    anonymous = await client.get("/pixel.gif", params={"click_id": new_click_id()[0]})
    assert named.status_code == anonymous.status_code == 200
    await run_worker(settings)
    assert await retry_count(redis, settings) == 2  # waiting: the clicks may still come
    settings.pixel_deadline_s = 0
    assert await make_retries_due(pool, redis, settings) == 2
    await run_worker(settings)
    assert await conversions(pool) == []
    assert await retry_count(redis, settings) == 0
    for key in keys.shard_keys(keys.CONVERSIONS, settings.stream_shards):
        assert await redis.xlen(keys.dead_letter_key(key)) == 0
    state = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    assert (state.served, state.stored, state.discarded, state.dead_lettered) == (2, 0, 2, 0)
    assert (state.in_streams, state.balance) == (0, 0)


async def test_an_advertiser_postback_takes_its_order_back_from_a_pixel_of_another_click(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    """Bob fires the (unauthenticated) pixel for an order he guessed; the advertiser's
    postback for that order names Alice's click: Alice gets the conversion."""
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    gif = await client.get("/pixel.gif", params={"click_id": bob, "txid": "ORDER-9"})
    assert gif.status_code == 200
    await run_worker(settings)
    [claimed] = await conversions(pool)
    assert (claimed["affiliate_id"], claimed["status"]) == (shop["bob"]["id"], "pending")

    settings.attribution_retry_base_s = 3600
    response = await postback(client, shop["token"], click_id=alice, txid="ORDER-9")
    assert response.status_code == 200
    await run_worker(settings)  # the pixel's conversion gives up the txid; the postback waits
    assert await make_retries_due(pool, redis, settings) == 1
    await run_worker(settings)
    superseded, real = await conversions(pool)
    assert (superseded["affiliate_id"], superseded["status"], superseded["reason"]) == (
        shop["bob"]["id"],
        "rejected",
        "superseded",
    )
    assert superseded["txid"] != "ORDER-9"
    assert (real["affiliate_id"], real["status"], real["txid"]) == (
        shop["alice"]["id"],
        "approved",
        "ORDER-9",
    )
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["rejected"]) == (1, 1)
    assert totals["payout"] == Decimal("2.50")


async def test_coming_back_from_rejected_cannot_take_a_used_one_per_click_goal(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    alice = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    for txid, status in (("T-1", "approved"), ("T-2", "rejected"), ("T-2", "approved")):
        assert (
            await postback(client, shop["token"], click_id=alice, txid=txid, status=status)
        ).status_code == 200
        await run_worker(settings)
    first, second = await conversions(pool)
    assert (first["txid"], first["status"]) == ("T-1", "approved")
    assert (second["txid"], second["status"], second["reason"]) == ("T-2", "rejected", "duplicate")
    assert (await rollup_totals(pool))["conversions"] == 1
