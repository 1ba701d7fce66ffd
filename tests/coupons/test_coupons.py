"""/api/v1/coupons: codes unique per advertiser whatever their case, scoped keys, a used
coupon archived instead of deleted."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create
from tests.support.conversions import postback, run_worker


async def test_codes_are_unique_per_advertiser_whatever_their_case(
    client: httpx.AsyncClient, shop: dict[str, Any], admin: dict[str, str]
) -> None:
    body = {"code": "Spring", "affiliate_id": shop["alice"]["id"], "offer_id": shop["offer"]["id"]}
    made = await create(client, "coupons", body, admin)
    assert (made["advertiser_id"], made["status"]) == (shop["advertiser"]["id"], "active")
    again = await client.post(
        "/api/v1/coupons",
        json={**body, "code": "SPRING", "affiliate_id": shop["bob"]["id"]},
        headers=admin,
    )
    assert_error(again, 409, "duplicate_code")
    other = await create(client, "advertisers", {"name": "Other"}, admin)
    elsewhere = {"code": "spring", "affiliate_id": shop["bob"]["id"], "advertiser_id": other["id"]}
    assert (await create(client, "coupons", elsewhere, admin))["offer_id"] is None


async def test_bad_coupons_are_refused_with_a_4xx(
    client: httpx.AsyncClient, shop: dict[str, Any], admin: dict[str, str]
) -> None:
    offer = shop["offer"]["id"]
    cases = [
        ({"code": "has space", "affiliate_id": shop["alice"]["id"], "offer_id": offer}, 400),
        ({"code": "X" * 65, "affiliate_id": shop["alice"]["id"], "offer_id": offer}, 400),
        ({"code": "OK", "affiliate_id": shop["alice"]["id"]}, 400),
        ({"code": "OK", "affiliate_id": 999, "offer_id": offer}, 409),
        ({"code": "OK", "affiliate_id": shop["alice"]["id"], "offer_id": 999}, 409),
        ({"code": "OK", "affiliate_id": shop["alice"]["id"], "advertiser_id": 999}, 409),
    ]
    for body, status in cases:
        response = await client.post("/api/v1/coupons", json=body, headers=admin)
        assert_error(response, status)
    lonely = await create(client, "affiliates", {"name": "No link"}, admin)
    body = {"code": "OK", "affiliate_id": lonely["id"], "offer_id": offer}
    assert_error(await client.post("/api/v1/coupons", json=body, headers=admin), 409, "no_link")


async def test_a_used_coupon_is_archived_and_an_unused_one_deleted(
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    app: FastAPI,
) -> None:
    offer = shop["offer"]["id"]
    used = await create(
        client,
        "coupons",
        {"code": "USED", "affiliate_id": shop["bob"]["id"], "offer_id": offer},
        admin,
    )
    unused = await create(
        client,
        "coupons",
        {"code": "IDLE", "affiliate_id": shop["bob"]["id"], "offer_id": offer},
        admin,
    )
    await postback(client, shop["token"], coupon="used", txid="t-1")
    await run_worker(settings)
    assert await pool.fetchval("SELECT coupon_id FROM conversions") == used["id"]
    for coupon in (used, unused):
        response = await client.delete(f"/api/v1/coupons/{coupon['id']}", headers=admin)
        assert response.status_code == 204
    assert (await client.get(f"/api/v1/coupons/{used['id']}", headers=admin)).json()[
        "status"
    ] == "archived"
    assert_error(await client.get(f"/api/v1/coupons/{unused['id']}", headers=admin), 404)
    # An archived code credits nobody.
    await postback(client, shop["token"], coupon="USED", txid="t-2")
    await run_worker(settings)
    reason = await pool.fetchval("SELECT reason FROM conversions WHERE txid = 't-2'")
    assert reason == "coupon_archived"


async def test_an_affiliate_key_sees_its_own_coupons_only(
    client: httpx.AsyncClient, shop: dict[str, Any], admin: dict[str, str]
) -> None:
    offer = shop["offer"]["id"]
    mine = await create(
        client,
        "coupons",
        {"code": "A1", "affiliate_id": shop["alice"]["id"], "offer_id": offer},
        admin,
    )
    theirs = await create(
        client,
        "coupons",
        {"code": "B1", "affiliate_id": shop["bob"]["id"], "offer_id": offer},
        admin,
    )
    alice = await affiliate_headers(client, admin, shop["alice"]["id"])
    listed = (await client.get("/api/v1/coupons", headers=alice)).json()["items"]
    assert [c["id"] for c in listed] == [mine["id"]]
    assert_error(await client.get(f"/api/v1/coupons/{theirs['id']}", headers=alice), 403)
    body = {"code": "A2", "affiliate_id": shop["alice"]["id"], "offer_id": offer}
    assert_error(await client.post("/api/v1/coupons", json=body, headers=alice), 403)
