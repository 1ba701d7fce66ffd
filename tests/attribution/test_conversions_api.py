"""/api/v1/conversions: filters, cursor pages, affiliate scoping, status changes by hand."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from app.attribution import writer
from app.db import RETRIES, Pool, retrying
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error
from tests.support.conversions import click, conversions, postback, rollup_totals, run_worker


async def _three_conversions(
    app: FastAPI, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings
) -> None:
    alice = await click(app, client, shop["alice_link"]["code"])
    alice2 = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="A1", amount="10")
    await postback(client, shop["token"], click_id=alice2, txid="A2", status="pending")
    await postback(client, shop["token"], click_id=bob, txid="B1")
    await run_worker(settings)


async def test_list_filters_and_pages(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
) -> None:
    await _three_conversions(app, client, shop, settings)

    async def txids(**params: Any) -> list[str]:
        response = await client.get("/api/v1/conversions", params=params, headers=admin)
        assert response.status_code == 200, response.text
        return sorted(c["txid"] for c in response.json()["items"])

    assert await txids() == ["A1", "A2", "B1"]
    assert await txids(affiliate=shop["alice"]["id"]) == ["A1", "A2"]
    assert await txids(status="pending") == ["A2"]
    assert await txids(offer=shop["offer"]["id"], event="conversion") == ["A1", "A2", "B1"]
    assert await txids(event="sale") == []
    assert await txids(**{"from": "2000-01-01", "to": "2999-12-31"}) == ["A1", "A2", "B1"]
    assert await txids(to="2000-01-01T00:00:00Z") == []
    first = await client.get("/api/v1/conversions", params={"limit": 2}, headers=admin)
    page = first.json()
    second = await client.get(
        "/api/v1/conversions", params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin
    )
    items = page["items"] + second.json()["items"]
    assert (len(page["items"]), second.json()["next_cursor"]) == (2, None)
    assert sorted(c["txid"] for c in items) == ["A1", "A2", "B1"]
    assert [c["id"] for c in items] == sorted(c["id"] for c in items)
    [item] = [c for c in items if c["txid"] == "A1"]
    assert (item["revenue"], item["payout"], item["amount"]) == ("4.00", "2.50", "10.00")
    assert item["event"] == "conversion"
    assert len(item["click_id"]) == 26
    bad = await client.get("/api/v1/conversions", params={"from": "yesterday"}, headers=admin)
    assert_error(bad, 400, "invalid_parameter")


async def test_an_affiliate_sees_only_its_own_without_revenue(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    await _three_conversions(app, client, shop, settings)
    alice = await affiliate_headers(client, admin, shop["alice"]["id"])
    response = await client.get("/api/v1/conversions", headers=alice)
    assert response.status_code == 200
    items = sorted(response.json()["items"], key=lambda c: c["txid"])
    assert [c["txid"] for c in items] == ["A1", "A2"]
    assert all("revenue" not in c and "advertiser_id" not in c for c in items)
    assert items[0]["payout"] == "2.50"
    assert_error(
        await client.get(
            "/api/v1/conversions", params={"affiliate": shop["bob"]["id"]}, headers=alice
        ),
        403,
    )
    bobs = [r["id"] for r in await conversions(pool) if r["txid"] == "B1"]
    assert_error(await client.get(f"/api/v1/conversions/{bobs[0]}", headers=alice), 404)
    assert_error(
        await client.patch(
            f"/api/v1/conversions/{items[0]['id']}", json={"status": "rejected"}, headers=alice
        ),
        403,
    )
    assert_error(await client.get("/api/v1/conversions"), 401)


async def test_patch_changes_a_status_with_every_effect(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    response = await client.patch(
        f"/api/v1/affiliates/{shop['alice']['id']}",
        json={"postback_url": "https://aff.example/pb?s={status}", "postback_on": "all"},
        headers=admin,
    )
    assert response.status_code == 200
    await _three_conversions(app, client, shop, settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    before = await rollup_totals(pool)
    assert (before["conversions"], before["pending"]) == (2, 1)
    patched = await client.patch(
        f"/api/v1/conversions/{rows['A1']['id']}", json={"status": "rejected"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["status"] == "rejected"
    after = await rollup_totals(pool)
    assert (after["conversions"], after["rejected"], after["payout"]) == (1, 1, Decimal("2.50"))
    history = await pool.fetch(
        "SELECT old_status, new_status, changed_by FROM conversion_history"
        " WHERE conversion_id = $1 ORDER BY id",
        rows["A1"]["id"],
    )
    assert [(h["old_status"], h["new_status"]) for h in history] == [
        (None, "approved"),
        ("approved", "rejected"),
    ]
    assert history[-1]["changed_by"] == "admin"
    listed = await client.get(f"/api/v1/conversions/{rows['A1']['id']}/history", headers=admin)
    assert listed.status_code == 200, listed.text
    assert [(h["old_status"], h["new_status"], h["changed_by"]) for h in listed.json()] == [
        (h["old_status"], h["new_status"], h["changed_by"]) for h in history
    ]
    assert listed.json()[0]["changed_at"] <= listed.json()[1]["changed_at"]
    alice_key = await affiliate_headers(client, admin, shop["alice"]["id"])
    hidden = await client.get(f"/api/v1/conversions/{rows['A1']['id']}/history", headers=alice_key)
    assert hidden.status_code == 403
    assert_error(await client.get("/api/v1/conversions/999999/history", headers=admin), 404)
    urls = [r["url"] for r in await pool.fetch("SELECT url FROM deliveries ORDER BY id")]
    assert urls[-1] == "https://aff.example/pb?s=rejected"
    # The same status again changes nothing.
    again = await client.patch(
        f"/api/v1/conversions/{rows['A1']['id']}", json={"status": "rejected"}, headers=admin
    )
    assert again.status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM conversion_history") == 4
    assert_error(
        await client.patch(
            f"/api/v1/conversions/{rows['A1']['id']}", json={"status": "lost"}, headers=admin
        ),
        400,
    )
    assert_error(
        await client.patch(
            "/api/v1/conversions/999999", json={"status": "approved"}, headers=admin
        ),
        404,
    )


async def test_a_status_change_that_loses_a_deadlock_is_run_again_whole(
    app: FastAPI,
    client: httpx.AsyncClient,
    shop: dict[str, Any],
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writers of the ledger's day sums can cross each other's row order; PostgreSQL then
    aborts one of them. The hand change is repeated, not answered with a 500, and its
    first try leaves nothing behind."""
    await _three_conversions(app, client, shop, settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    effects = writer.apply_effects
    lost: list[int] = []

    async def losing_once(*args: Any, **kwargs: Any) -> None:
        await effects(*args, **kwargs)
        if not lost:
            lost.append(1)
            raise asyncpg.DeadlockDetectedError("deadlock detected")

    monkeypatch.setattr(writer, "apply_effects", losing_once)
    patched = await client.patch(
        f"/api/v1/conversions/{rows['A1']['id']}", json={"status": "rejected"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["status"], lost) == ("rejected", [1])
    history = await pool.fetch(
        "SELECT new_status FROM conversion_history WHERE conversion_id = $1 ORDER BY id",
        rows["A1"]["id"],
    )
    assert [h["new_status"] for h in history] == ["approved", "rejected"]
    reversals = await pool.fetchval(
        "SELECT count(*) FROM ledger_entries WHERE conversion_id = $1 AND kind <> 'commission'",
        rows["A1"]["id"],
    )
    assert reversals == 1


async def test_retrying_gives_up_after_its_tries() -> None:
    tries: list[int] = []

    async def always_loses() -> None:
        tries.append(1)
        raise asyncpg.SerializationError("could not serialize access")

    with pytest.raises(asyncpg.SerializationError):
        await retrying(always_loses)
    assert len(tries) == RETRIES
