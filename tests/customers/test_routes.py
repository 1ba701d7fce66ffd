"""/api/v1/customers: list with filters and cursor, one customer with totals and timeline,
reassignment by hand; affiliate keys see their own, never the external ID or revenue."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error
from tests.support.conversions import click, postback, run_worker


async def _two_customers(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings
) -> None:
    alice = await click(app, client, shop["alice_link"]["code"], sub1="kw")
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="a-1", customer_id="ann@x")
    await postback(client, shop["token"], click_id=bob, txid="b-1", customer_id="bo@x")
    await run_worker(settings)
    await postback(client, shop["token"], customer_id="ann@x", txid="a-2", status="pending")
    await run_worker(settings)
    await postback(client, shop["token"], customer_id="ann@x", txid="a-2", status="approved")
    await run_worker(settings)


async def test_list_filters_and_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    admin: dict[str, str],
) -> None:
    await _two_customers(app, client, shop, settings)

    async def ids(**params: Any) -> list[str | None]:
        response = await client.get("/api/v1/customers", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return [c["external_id"] for c in response.json()["items"]]

    # The two may be stored in either order (two stream shards): the list is by id.
    listed = await ids()
    assert sorted(listed, key=str) == ["ann@x", "bo@x"]
    assert await ids(affiliate=shop["bob"]["id"]) == ["bo@x"]
    assert await ids(offer=shop["offer"]["id"], advertiser=shop["advertiser"]["id"]) == listed
    assert await ids(external_id="bo@x") == ["bo@x"]
    assert await ids(first_from="2000-01-01", first_to="2000-01-02") == []
    page = (await client.get("/api/v1/customers", params={"limit": 1}, headers=admin)).json()
    rest = await client.get(
        "/api/v1/customers", params={"cursor": page["next_cursor"]}, headers=admin
    )
    assert [c["external_id"] for c in page["items"] + rest.json()["items"]] == listed
    bad = await client.get("/api/v1/customers", params={"first_from": "soon"}, headers=admin)
    assert_error(bad, 400, "invalid_parameter")


async def test_one_customer_has_its_totals_and_timeline(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    admin: dict[str, str],
) -> None:
    await _two_customers(app, client, shop, settings)
    [ann] = (
        await client.get("/api/v1/customers", params={"external_id": "ann@x"}, headers=admin)
    ).json()["items"]
    detail = (await client.get(f"/api/v1/customers/{ann['id']}", headers=admin)).json()
    assert (detail["affiliate_id"], detail["sub1"]) == (shop["alice"]["id"], "kw")
    assert (detail["conversions"], detail["revenue"], detail["payout"]) == (
        2,
        {"USD": "8.00"},
        {"USD": "5.00"},
    )
    kinds = [item["kind"] for item in detail["timeline"]]
    assert kinds == ["click", "conversion", "bound", "conversion", "status_change"]
    recurring = [i["recurring"] for i in detail["timeline"] if i["kind"] == "conversion"]
    assert recurring == [False, True]
    assert [i["via"] for i in detail["timeline"] if i["kind"] == "conversion"] == [
        "click",
        "customer",
    ]


async def test_an_affiliate_sees_its_own_customers_without_external_id_or_revenue(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    admin: dict[str, str],
) -> None:
    await _two_customers(app, client, shop, settings)
    alice = await affiliate_headers(client, admin, shop["alice"]["id"])
    [mine] = (await client.get("/api/v1/customers", headers=alice)).json()["items"]
    assert "external_id" not in mine
    assert "advertiser_id" not in mine
    detail = (await client.get(f"/api/v1/customers/{mine['id']}", headers=alice)).json()
    assert "revenue" not in detail
    assert "external_id" not in detail
    assert (detail["conversions"], detail["payout"]) == (2, {"USD": "5.00"})
    listed = await client.get("/api/v1/customers", params={"external_id": "bo@x"}, headers=alice)
    assert_error(listed, 403)
    all_ids = (await client.get("/api/v1/customers", headers=admin)).json()["items"]
    bobs = next(c["id"] for c in all_ids if c["external_id"] == "bo@x")
    assert_error(await client.get(f"/api/v1/customers/{bobs}", headers=alice), 404)
    conversions = (await client.get("/api/v1/conversions", headers=alice)).json()["items"]
    assert all("customer_external_id" not in c for c in conversions)
    assert {c["customer_id"] for c in conversions} == {mine["id"]}
    body = {"affiliate_id": shop["alice"]["id"], "reason": "mine"}
    assert_error(await client.patch(f"/api/v1/customers/{bobs}", json=body, headers=alice), 403)


async def test_reassigning_by_hand_moves_later_credit_and_is_in_the_timeline(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    settings: Settings,
    admin: dict[str, str],
    pool: Pool,
) -> None:
    await _two_customers(app, client, shop, settings)
    [ann] = (
        await client.get("/api/v1/customers", params={"external_id": "ann@x"}, headers=admin)
    ).json()["items"]
    body = {"affiliate_id": shop["bob"]["id"], "reason": "support ticket 7"}
    response = await client.patch(f"/api/v1/customers/{ann['id']}", json=body, headers=admin)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["affiliate_id"], detail["link_id"], detail["sub1"]) == (
        shop["bob"]["id"],
        shop["bob_link"]["id"],
        None,
    )
    [event] = [i for i in detail["timeline"] if i["kind"] == "reassigned"]
    assert (event["previous_affiliate_id"], event["reason"]) == (
        shop["alice"]["id"],
        "support ticket 7",
    )
    await postback(client, shop["token"], customer_id="ann@x", txid="a-3")
    await run_worker(settings)
    credited = await pool.fetchval("SELECT affiliate_id FROM conversions WHERE txid = 'a-3'")
    assert credited == shop["bob"]["id"]
    for bad, status in (
        ({"affiliate_id": 999, "reason": "x"}, 409),
        ({"affiliate_id": shop["bob"]["id"]}, 400),
        ({"affiliate_id": "2", "reason": "x"}, 400),
    ):
        response = await client.patch(f"/api/v1/customers/{ann['id']}", json=bad, headers=admin)
        assert_error(response, status)
    assert_error(await client.get("/api/v1/customers/999", headers=admin), 404)
