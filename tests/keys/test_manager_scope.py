"""A manager's session through the API: the affiliates assigned to them, as an owner's
powers, and nothing of the others (another's record is a 404, never a 403); the
owners' operations are 403 owner_only."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Pool
from tests.helpers import assert_error, create
from tests.support.portal import (
    alice_sale,
    assign,
    clicked_conversion,
    csrf_of,
    owner_and_manager,
    signed_in,
)


@pytest.fixture
async def mia(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> AsyncIterator[httpx.AsyncClient]:
    """Mia's browser, signed in: a manager with Alice assigned (Bob is no one's)."""
    _, manager = await owner_and_manager(app, client, admin, pool)
    await assign(client, admin, catalog["alice"]["id"], manager)
    async with signed_in(app, "mia@example.com") as person:
        person.headers["X-CSRF-Token"] = csrf_of(await person.get("/manage"))
        yield person


async def bob_sale(pool: Pool, catalog: dict[str, Any]) -> int:
    return await clicked_conversion(
        pool,
        catalog,
        "bob_link",
        status="pending",
        sub1="autumn",
        revenue=Decimal("20.00"),
        payout=Decimal("9.00"),
    )


async def test_a_manager_reads_their_affiliates_only(
    mia: httpx.AsyncClient, pool: Pool, catalog: dict[str, Any]
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alices, bobs = await alice_sale(pool, catalog), await bob_sale(pool, catalog)

    listed = (await mia.get("/api/v1/affiliates")).json()["items"]
    assert [a["id"] for a in listed] == [alice]
    assert (await mia.get(f"/api/v1/affiliates/{alice}")).json()["name"] == "Alice"
    links = (await mia.get("/api/v1/links")).json()["items"]
    assert [link["affiliate_id"] for link in links] == [alice]
    conversions = (await mia.get("/api/v1/conversions")).json()["items"]
    assert [c["id"] for c in conversions] == [alices]
    assert "revenue" in conversions[0]  # the network's view, as an owner's
    one = await mia.get(f"/api/v1/conversions/{alices}")
    assert one.status_code == 200
    assert (await mia.get(f"/api/v1/conversions/{alices}/history")).status_code == 200
    stats = (await mia.get("/api/v1/stats?group_by=affiliate")).json()
    assert [r["affiliate"] for r in stats["rows"]] == [alice]
    assert stats["totals"]["revenue"] == "12.00"
    assert (await mia.get("/api/v1/groups")).status_code == 200
    balance = await mia.get(f"/api/v1/affiliates/{alice}/balance")
    assert balance.status_code == 200
    assert (await mia.get(f"/api/v1/affiliates/{alice}/history")).status_code == 200
    ledger = (await mia.get("/api/v1/ledger")).json()["items"]
    assert {e["affiliate_id"] for e in ledger} == {alice}

    # Bob's records, by any way in, are records that do not exist.
    for path in (
        f"/api/v1/affiliates/{bob}",
        f"/api/v1/links/{catalog['bob_link']['id']}",
        f"/api/v1/conversions/{bobs}",
        f"/api/v1/conversions/{bobs}/history",
        f"/api/v1/affiliates/{bob}/balance",
        f"/api/v1/affiliates/{bob}/history",
        f"/api/v1/affiliates/{bob}/notes",
        f"/api/v1/stats?affiliate={bob}",
        f"/api/v1/stats?affiliate={alice},{bob}",
        f"/api/v1/conversions?affiliate={bob}",
        f"/api/v1/links?affiliate_id={bob}",
        f"/api/v1/ledger?affiliate={bob}",
        f"/api/v1/payouts?affiliate={bob}",
        f"/api/v1/customers?affiliate={bob}",
        f"/api/v1/coupons?affiliate_id={bob}",
        f"/api/v1/webhooks?affiliate_id={bob}",
        f"/api/v1/deliveries?affiliate_id={bob}",
    ):
        answer = await mia.get(path)
        assert_error(answer, 404, "not_found")
        assert "Bob" not in answer.text, path
    # The message names the record asked for, never the affiliate it belongs to.
    refused = await mia.get(f"/api/v1/conversions/{bobs}")
    assert refused.json()["error"]["message"] == f"conversion {bobs} does not exist"


async def test_a_manager_acts_on_their_affiliates_only(
    mia: httpx.AsyncClient,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    alices, bobs = await alice_sale(pool, catalog), await bob_sale(pool, catalog)

    rejected = await mia.patch(f"/api/v1/conversions/{alices}", json={"status": "rejected"})
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    history = (await client.get(f"/api/v1/conversions/{alices}/history", headers=admin)).json()
    assert history[-1]["changed_by"].startswith("admin:")  # her identity key
    assert_error(await mia.patch(f"/api/v1/conversions/{bobs}", json={"status": "approved"}), 404)
    assert await pool.fetchval("SELECT status FROM conversions WHERE id = $1", bobs) == "pending"

    renamed = await mia.patch(f"/api/v1/affiliates/{alice}", json={"name": "Alice B."})
    assert renamed.status_code == 200, renamed.text
    assert_error(await mia.patch(f"/api/v1/affiliates/{bob}", json={"name": "Mine"}), 404)
    # Assigning affiliates is the owners'.
    assert_error(
        await mia.patch(f"/api/v1/affiliates/{alice}", json={"manager_id": None}),
        403,
        "owner_only",
    )
    noted = await mia.post(f"/api/v1/affiliates/{alice}/notes", json={"text": "called her"})
    assert noted.status_code == 201, noted.text
    assert_error(await mia.post(f"/api/v1/affiliates/{bob}/notes", json={"text": "x"}), 404)

    offer = catalog["offer"]["id"]
    made = await mia.post("/api/v1/links", json={"affiliate_id": alice, "offer_id": offer})
    assert made.status_code == 201, made.text
    assert_error(
        await mia.post("/api/v1/links", json={"affiliate_id": bob, "offer_id": offer}), 404
    )
    bob_link = catalog["bob_link"]["id"]
    assert_error(await mia.patch(f"/api/v1/links/{bob_link}", json={"status": "archived"}), 404)
    assert_error(await mia.delete(f"/api/v1/links/{bob_link}"), 404)
    assert await pool.fetchval("SELECT status FROM links WHERE id = $1", bob_link) == "active"
    archived = await mia.delete(f"/api/v1/links/{made.json()['id']}")
    assert archived.status_code == 204

    coupon = await mia.post(
        "/api/v1/coupons",
        json={"code": "ALICE10", "affiliate_id": alice, "offer_id": offer},
    )
    assert coupon.status_code == 201, coupon.text
    assert_error(
        await mia.post(
            "/api/v1/coupons", json={"code": "BOB10", "affiliate_id": bob, "offer_id": offer}
        ),
        404,
    )
    bobs_coupon = await create(
        client, "coupons", {"code": "BOB5", "affiliate_id": bob, "offer_id": offer}, admin
    )
    assert_error(await mia.get(f"/api/v1/coupons/{bobs_coupon['id']}"), 404)
    assert_error(await mia.delete(f"/api/v1/coupons/{bobs_coupon['id']}"), 404)

    hook = {"url": "https://hooks.example/in", "events": ["conversion.created"]}
    assert_error(await mia.post("/api/v1/webhooks", json=hook), 403, "owner_only")
    assert_error(await mia.post("/api/v1/webhooks", json={**hook, "affiliate_id": bob}), 404)
    programs = await create(client, "webhooks", hook, admin)
    assert_error(await mia.get(f"/api/v1/webhooks/{programs['id']}"), 404)
    assert_error(await mia.delete(f"/api/v1/webhooks/{programs['id']}"), 404)


async def test_a_session_write_needs_its_csrf_token(
    mia: httpx.AsyncClient, pool: Pool, catalog: dict[str, Any]
) -> None:
    alices = await alice_sale(pool, catalog)
    del mia.headers["X-CSRF-Token"]

    refused = await mia.patch(f"/api/v1/conversions/{alices}", json={"status": "rejected"})

    assert_error(refused, 403, "csrf_refused")
    assert await pool.fetchval("SELECT status FROM conversions WHERE id = $1", alices) == (
        "approved"
    )
    forged = await mia.patch(
        f"/api/v1/conversions/{alices}",
        json={"status": "rejected"},
        headers={"X-CSRF-Token": "not-hers"},
    )
    assert_error(forged, 403, "csrf_refused")


async def test_a_manager_with_no_affiliates_sees_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await owner_and_manager(app, client, admin, pool)
    await alice_sale(pool, catalog)
    async with signed_in(app, "mia@example.com") as mia:
        assert (await mia.get("/api/v1/affiliates")).json()["items"] == []
        assert (await mia.get("/api/v1/conversions")).json()["items"] == []
        assert (await mia.get("/api/v1/links")).json()["items"] == []
        assert (await mia.get("/api/v1/stats")).json()["rows"] == []


# Routes that scope a manager (ScopedKey, StaffKey): every other route under /api/v1
# refuses a manager's session with 403 owner_only.
SCOPED = {
    ("GET", "/api/v1/affiliates"),
    ("GET", "/api/v1/affiliates/{affiliate_id}"),
    ("PATCH", "/api/v1/affiliates/{affiliate_id}"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/approve"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/reject"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/suspend"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/reactivate"),
    ("GET", "/api/v1/affiliates/{affiliate_id}/history"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/postback/test"),
    ("POST", "/api/v1/affiliates/{affiliate_id}/notes"),
    ("GET", "/api/v1/affiliates/{affiliate_id}/notes"),
    ("GET", "/api/v1/affiliates/{affiliate_id}/balance"),
    ("GET", "/api/v1/groups"),
    ("GET", "/api/v1/groups/{group_id}"),
    ("POST", "/api/v1/links"),
    ("GET", "/api/v1/links"),
    ("GET", "/api/v1/links/{link_id}"),
    ("PATCH", "/api/v1/links/{link_id}"),
    ("DELETE", "/api/v1/links/{link_id}"),
    ("GET", "/api/v1/conversions"),
    ("GET", "/api/v1/conversions/{conversion_id}"),
    ("GET", "/api/v1/conversions/{conversion_id}/history"),
    ("PATCH", "/api/v1/conversions/{conversion_id}"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/ledger"),
    ("GET", "/api/v1/payouts"),
    ("GET", "/api/v1/payouts/{payout_id}"),
    ("GET", "/api/v1/payouts/{payout_id}/statement.pdf"),
    ("GET", "/api/v1/customers"),
    ("GET", "/api/v1/customers/{customer_id}"),
    ("PATCH", "/api/v1/customers/{customer_id}"),
    ("POST", "/api/v1/coupons"),
    ("GET", "/api/v1/coupons"),
    ("GET", "/api/v1/coupons/{coupon_id}"),
    ("PATCH", "/api/v1/coupons/{coupon_id}"),
    ("DELETE", "/api/v1/coupons/{coupon_id}"),
    ("POST", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks"),
    ("GET", "/api/v1/webhooks/{webhook_id}"),
    ("PATCH", "/api/v1/webhooks/{webhook_id}"),
    ("DELETE", "/api/v1/webhooks/{webhook_id}"),
    ("POST", "/api/v1/webhooks/{webhook_id}/rotate-secret"),
    ("POST", "/api/v1/webhooks/{webhook_id}/test"),
    ("GET", "/api/v1/offers"),
    ("GET", "/api/v1/offers/{offer_id}"),
    ("GET", "/api/v1/deliveries"),
    ("GET", "/api/v1/deliveries/{delivery_id}"),
    ("POST", "/api/v1/deliveries/{delivery_id}/retry"),
}


def keyed_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every method and path under /api/v1 that needs a key or a session (the document
    names its security)."""
    return [
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if path.startswith("/api/v1/") and operation.get("security")
    ]


async def test_every_other_route_is_the_owners(app: FastAPI, mia: httpx.AsyncClient) -> None:
    routes = keyed_routes(app)
    assert set(routes) >= SCOPED, SCOPED - set(routes)
    owners = [r for r in routes if r not in SCOPED]
    assert ("POST", "/api/v1/offers") in owners
    assert ("GET", "/api/v1/keys") in owners
    assert ("POST", "/api/v1/groups") in owners
    for method, path in owners:
        concrete = re.sub(r"\{[a-z_]+\}", "1", path)
        answer = await mia.request(method, concrete, json={})
        assert (answer.status_code, answer.json()["error"]["code"]) == (403, "owner_only"), (
            method,
            path,
        )
