"""Attribution with customers and coupons (app/customers/attribution.py), end to end:
postbacks through intake, the worker, the rows stored."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from app.db import Pool
from app.postbacks.records import ConversionRecord
from app.settings import Settings
from app.streams import keys
from tests.helpers import assert_error, create
from tests.support.conversions import (
    click,
    conversions,
    make_shop,
    postback,
    rollup_totals,
    run_conversion_consumers,
    run_worker,
    stream_length,
)


async def customers(pool: Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch("SELECT * FROM customers ORDER BY id")]


async def events(pool: Pool) -> list[tuple[str, int, int | None]]:
    rows = await pool.fetch(
        "SELECT kind, affiliate_id, previous_affiliate_id FROM customer_events ORDER BY id"
    )
    return [(r["kind"], r["affiliate_id"], r["previous_affiliate_id"]) for r in rows]


async def test_the_first_conversion_binds_a_customer_and_later_orders_are_credited_without_a_click(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, pool: Pool
) -> None:
    click_id = await click(app, client, shop["alice_link"]["code"], sub1="kw", source="fb")
    await run_worker(settings)
    first = await postback(client, shop["token"], click_id=click_id, txid="o-1", user_id="C-9")
    assert first.status_code == 200, first.text
    await run_worker(settings)
    again = await postback(client, shop["token"], txid="o-2", customer="C-9")
    assert again.status_code == 200, again.text
    await run_worker(settings)
    rows = await conversions(pool)
    [customer] = await customers(pool)
    assert (customer["external_id"], customer["affiliate_id"], customer["sub1"]) == (
        "C-9",
        shop["alice"]["id"],
        "kw",
    )
    assert customer["first_conversion_id"] == rows[0]["id"]
    assert [(r["txid"], r["affiliate_id"], r["attributed_via"], r["recurring"]) for r in rows] == [
        ("o-1", shop["alice"]["id"], "click", False),
        ("o-2", shop["alice"]["id"], "customer", True),
    ]
    assert [r["customer_id"] for r in rows] == [customer["id"]] * 2
    assert rows[1]["click_id"] is None
    assert (rows[1]["sub1"], rows[1]["link_id"]) == ("kw", shop["alice_link"]["id"])
    assert (await rollup_totals(pool))["conversions"] == 2
    assert await events(pool) == []  # a first binding is its first conversion's


async def test_last_click_rebinds_and_first_click_keeps_the_customer(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    admin: dict[str, str],
) -> None:
    alice_click = await click(app, client, shop["alice_link"]["code"])
    bob_click = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice_click, txid="o-1", customer_id="C")
    await run_worker(settings)
    await postback(client, shop["token"], click_id=bob_click, txid="o-2", customer_id="C")
    await run_worker(settings)
    rows = await conversions(pool)
    assert [r["affiliate_id"] for r in rows] == [shop["alice"]["id"], shop["bob"]["id"]]
    [customer] = await customers(pool)
    assert customer["affiliate_id"] == shop["bob"]["id"]
    assert await events(pool) == [("rebound", shop["bob"]["id"], shop["alice"]["id"])]
    response = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}",
        json={"attribution_model": "first_click"},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    await postback(client, shop["token"], click_id=alice_click, txid="o-3", customer_id="C")
    await run_worker(settings)
    rows = await conversions(pool)
    assert (rows[2]["affiliate_id"], rows[2]["attributed_via"]) == (shop["bob"]["id"], "customer")
    assert (await customers(pool))[0]["affiliate_id"] == shop["bob"]["id"]


async def test_coupons_credit_their_affiliate_and_bad_ones_are_unattributed_with_a_reason(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    admin: dict[str, str],
) -> None:
    await create(
        client,
        "coupons",
        {"code": "Summer10", "affiliate_id": shop["bob"]["id"], "offer_id": shop["offer"]["id"]},
        admin,
    )
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    await create(
        client,
        "coupons",
        {"code": "ELSE", "affiliate_id": shop["alice"]["id"], "advertiser_id": other["id"]},
        admin,
    )
    sent = [
        {"txid": "c-1", "coupon": "SUMMER10", "amount": "10.00"},
        {"txid": "c-2", "promo_code": "nope"},
        {"txid": "c-3", "coupon_code": "else"},
        {"txid": "c-4", "customer_id": "stranger"},
    ]
    for params in sent:
        response = await postback(client, shop["token"], **params)
        assert response.status_code == 200, response.text
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert (rows["c-1"]["affiliate_id"], rows["c-1"]["attributed_via"]) == (
        shop["bob"]["id"],
        "coupon",
    )
    assert (rows["c-1"]["status"], rows["c-1"]["payout"]) == ("approved", Decimal("2.50"))
    assert rows["c-1"]["link_id"] == shop["bob_link"]["id"]
    assert {t: (r["status"], r["reason"]) for t, r in rows.items() if t != "c-1"} == {
        "c-2": ("unattributed", "unknown_coupon"),
        "c-3": ("unattributed", "coupon_other_advertiser"),
        "c-4": ("unattributed", "unknown_customer"),
    }


async def test_bad_customer_and_coupon_parameters_are_a_400_and_nothing_is_queued(
    client: httpx.AsyncClient, shop: dict[str, Any], redis: Redis, settings: Settings
) -> None:
    cases = [
        ({"txid": "t", "customer_id": "x" * 256}, "invalid_parameter"),
        ({"txid": "t", "user_id": "x" * 256}, "invalid_parameter"),
        ({"txid": "t", "coupon": "c" * 256}, "invalid_parameter"),
        ({"txid": "t", "customer_id": "a\x00b"}, "invalid_parameter"),
        ({"txid": "t"}, "missing_parameter"),
        ({"coupon": "SAVE"}, "missing_parameter"),
        ({"customer": "C-1"}, "missing_parameter"),
        ({"txid": "t", "customer_id": "C", "offer_id": "x"}, "invalid_parameter"),
    ]
    for params, code in cases:
        assert_error(await postback(client, shop["token"], **params), 400, code)
    assert await stream_length(redis, settings) == 0
    ok = await postback(client, shop["token"], txid="t", customer_id="x" * 255)
    assert ok.status_code == 200


async def test_two_conversions_of_a_new_customer_at_once_make_one_customer(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    admin: dict[str, str],
) -> None:
    body = {"code": "BOTH", "affiliate_id": shop["bob"]["id"], "offer_id": shop["offer"]["id"]}
    await create(client, "coupons", body, admin)
    shards = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
    assert len(shards) >= 2
    now_us = time.time_ns() // 1000
    for round_ in range(5):
        for i, shard in enumerate(shards[:2]):
            record = ConversionRecord(
                via="postback",
                advertiser_id=shop["advertiser"]["id"],
                click_id=None,
                txid=f"r{round_}-{i}",
                amount=None,
                payout=None,
                currency=None,
                status="approved",
                event=None,
                received_us=now_us + i,
                customer_id=f"new-{round_}",
                coupon="both",
            )
            await redis.xadd(shard, {"r": record.encode()})
    await run_conversion_consumers(settings, pool, redis, consumers=2, batch=1)
    made = await customers(pool)
    assert sorted(c["external_id"] for c in made) == [f"new-{r}" for r in range(5)]
    rows = await conversions(pool)
    assert len(rows) == 10
    for customer in made:
        mine = [r for r in rows if r["customer_id"] == customer["id"]]
        assert sorted(r["recurring"] for r in mine) == [False, True]
        assert customer["first_conversion_id"] in {r["id"] for r in mine}


async def test_a_pixel_binds_its_customer_but_never_credits_by_coupon_or_customer(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    admin: dict[str, str],
) -> None:
    body = {"code": "PIX", "affiliate_id": shop["bob"]["id"], "offer_id": shop["offer"]["id"]}
    await create(client, "coupons", body, admin)
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    pixel = await client.get(
        "/pixel.gif", params={"click_id": click_id, "txid": "p-1", "customer_id": "P"}
    )
    assert pixel.status_code == 200
    # No click: a browser naming a coupon or customer is not taken at its word.
    for params in ({"txid": "p-2", "coupon": "PIX"}, {"txid": "p-3", "customer_id": "P"}):
        assert (await client.get("/pixel.gif", params=params)).status_code == 200
    await run_worker(settings)
    [row] = await conversions(pool)
    assert (row["txid"], row["attributed_via"], row["recurring"]) == ("p-1", "pixel", False)
    [customer] = await customers(pool)
    assert (customer["external_id"], customer["affiliate_id"]) == ("P", shop["alice"]["id"])
    assert customer["click_id"] == row["click_id"]


async def test_an_advertiser_wide_coupon_credits_the_offer_the_postback_names(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    pool: Pool,
    admin: dict[str, str],
) -> None:
    advertiser = shop["advertiser"]["id"]
    body = {"code": "ALL", "affiliate_id": shop["alice"]["id"], "advertiser_id": advertiser}
    await create(client, "coupons", body, admin)
    body = {"code": "ONE", "affiliate_id": shop["bob"]["id"], "offer_id": shop["offer"]["id"]}
    await create(client, "coupons", body, admin)
    other = await create(
        client,
        "offers",
        {"advertiser_id": advertiser, "name": "Other", "url": "https://shop.example/other"},
        admin,
    )
    offer = shop["offer"]["id"]
    for params in (
        {"txid": "w-1", "coupon": "all", "offer_id": offer, "customer_id": "W"},
        {"txid": "w-2", "coupon": "all"},  # no offer named, no customer
        {"txid": "w-3", "coupon": "one", "offer_id": other["id"]},
        {"txid": "w-4", "coupon": "all", "offer_id": other["id"]},  # Alice has no link there
        {"txid": "w-5", "coupon": "all", "customer_id": "W"},  # the customer's bound offer
    ):
        assert (await postback(client, shop["token"], **params)).status_code == 200
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert {t: (r["affiliate_id"], r["reason"], r["recurring"]) for t, r in rows.items()} == {
        "w-1": (shop["alice"]["id"], None, False),
        "w-2": (None, "no_offer", False),
        "w-3": (None, "coupon_other_offer", False),
        "w-4": (None, "no_link", False),
        "w-5": (shop["alice"]["id"], None, True),
    }


async def test_recurring_conversions_pay_the_recurring_rules_up_to_the_limit(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(
        client,
        admin,
        recurring_payout={"type": "percent", "value": "10"},
        recurring_limit=2,
    )
    response = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}",
        json={
            "payout_overrides": [
                {
                    "affiliate_id": shop["bob"]["id"],
                    "type": "fixed",
                    "value": "5.00",
                    "recurring": {"type": "fixed", "value": "0.75"},
                }
            ]
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="a0", customer_id="A", amount="20")
    await postback(client, shop["token"], click_id=bob, txid="b0", customer_id="B", amount="20")
    await run_worker(settings)
    for i in range(1, 4):
        for who in "AB":
            params = {"txid": f"{who.lower()}{i}", "customer_id": who, "amount": "20"}
            assert (await postback(client, shop["token"], **params)).status_code == 200
    await run_worker(settings)
    payouts = {r["txid"]: (r["payout"], r["recurring_seq"]) for r in await conversions(pool)}
    assert payouts == {
        "a0": (Decimal("2.50"), None),
        "a1": (Decimal("2.00"), 1),
        "a2": (Decimal("2.00"), 2),
        "a3": (Decimal("0"), 3),
        "b0": (Decimal("5.00"), None),
        "b1": (Decimal("0.75"), 1),
        "b2": (Decimal("0.75"), 2),
        "b3": (Decimal("0"), 3),
    }


async def test_a_click_that_rebinds_pays_its_affiliates_recurring_override(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(client, admin)
    override = {
        "affiliate_id": shop["bob"]["id"],
        "type": "fixed",
        "value": "5.00",
        "recurring": {"type": "fixed", "value": "0.75"},
    }
    response = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}",
        json={"payout_overrides": [override]},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="1", customer_id="R")
    await run_worker(settings)
    # Bob's click rebinds: a recurring conversion of Bob's, found by no customer or coupon
    # of the batch but by its click.
    await postback(client, shop["token"], click_id=bob, txid="2", customer_id="R")
    await run_worker(settings)
    await postback(client, shop["token"], txid="3", customer_id="R")
    await run_worker(settings)
    rows = [(r["affiliate_id"], r["payout"], r["recurring"]) for r in await conversions(pool)]
    assert rows == [
        (shop["alice"]["id"], Decimal("2.50"), False),
        (shop["bob"]["id"], Decimal("0.75"), True),
        (shop["bob"]["id"], Decimal("0.75"), True),
    ]
