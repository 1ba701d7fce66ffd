"""The events: conversions from attribution, offer status changes, caps reached once per
period; who hears of what, and an affiliate's endpoints without revenue or customer IDs."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.sender.engine import Sender
from app.settings import Settings
from app.webhooks import events
from tests.helpers import affiliate_headers
from tests.sender.receiver import Receiver
from tests.support.conversions import (
    click,
    make_shop,
    postback,
    run_conversion_consumers,
    run_worker,
)
from tests.webhooks.conftest import endpoint
from tests.webhooks.test_service import verified

CONVERSIONS = ["conversion.created", "conversion.updated"]


def test_stripped_removes_private_fields_at_any_depth() -> None:
    data = {
        "revenue": "4.00",
        "payout": "2.50",
        "items": [{"customer_id": "c-1", "sku": "x"}],
        "customer": {"external_id": "crm-9", "country": "DE"},
    }
    assert events.stripped(data) == {
        "payout": "2.50",
        "items": [{"sku": "x"}],
        "customer": {"country": "DE"},
    }


async def test_an_unknown_type_is_refused(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(ValueError, match="unknown webhook event type"):
            await events.emit(conn, "conversion.deleted", {})


async def received(receiver: Receiver, path: str, secret: str) -> list[dict[str, Any]]:
    """The verified events at `path` in the order they happened: the sender delivers an
    endpoint's events concurrently, so they may arrive in any order."""
    events_ = [verified(secret, r) for r in receiver.on(path)]
    return sorted(events_, key=lambda e: datetime.fromisoformat(e["created_at"]))


async def test_conversions_reach_the_program_and_the_affiliate_stripped(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    settings: Settings,
) -> None:
    shop = await make_shop(client, admin)
    alice, bob = shop["alice"]["id"], shop["bob"]["id"]
    url = receiver.base_url
    program = await endpoint(client, admin, f"{url}/program", CONVERSIONS)
    alice_key = await affiliate_headers(client, admin, alice)
    of_alice = await endpoint(client, alice_key, f"{url}/alice", CONVERSIONS)
    of_bob = await endpoint(client, admin, f"{url}/bob", CONVERSIONS, affiliate_id=bob)
    updates_only = await endpoint(client, admin, f"{url}/updates", ["conversion.updated"])

    click_id = await click(app, client, shop["alice_link"]["code"], sub1="kw")
    await run_worker(settings)
    await postback(
        client, shop["token"], click_id=click_id, txid="T1", amount="80", status="pending"
    )
    await run_worker(settings)
    await postback(client, shop["token"], click_id=click_id, txid="T1", status="approved")
    await run_worker(settings)
    while await sender.run_once():
        pass

    full = await received(receiver, "/program", program["secret"])
    assert [(e["type"], e["data"]["status"]) for e in full] == [
        ("conversion.created", "pending"),
        ("conversion.updated", "approved"),
    ]
    created = full[0]["data"]
    assert (created["txid"], created["affiliate_id"], created["sub1"]) == ("T1", alice, "kw")
    assert (created["revenue"], created["payout"], created["amount"]) == ("4.00", "2.50", "80.00")
    assert created["previous_status"] is None
    assert full[1]["data"]["previous_status"] == "pending"

    own = await received(receiver, "/alice", of_alice["secret"])
    assert [e["id"] for e in own] == [e["id"] for e in full]  # the same events
    for event in own:
        assert "revenue" not in event["data"]
        assert event["data"]["payout"] == "2.50"
    private = {"revenue", "customer_id"}
    assert {k for e in own for k in e["data"]} == {k for e in full for k in e["data"]} - private
    assert receiver.on("/bob") == []
    assert [e["type"] for e in await received(receiver, "/updates", updates_only["secret"])] == [
        "conversion.updated"
    ]
    assert of_bob["affiliate_id"] == bob


async def test_offer_status_changes_reach_affiliates_with_a_link(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
) -> None:
    shop = await make_shop(client, admin)
    outsider = (
        await client.post("/api/v1/affiliates", json={"name": "Carol"}, headers=admin)
    ).json()
    wanted = ["offer.status_changed"]
    url = receiver.base_url
    program = await endpoint(client, admin, f"{url}/program", wanted)
    alice = await endpoint(client, admin, f"{url}/alice", wanted, affiliate_id=shop["alice"]["id"])
    await endpoint(client, admin, f"{url}/carol", wanted, affiliate_id=outsider["id"])
    path = f"/api/v1/offers/{shop['offer']['id']}"

    await client.patch(path, json={"status": "paused"}, headers=admin)
    await client.patch(path, json={"name": "Boots"}, headers=admin)  # no status change
    await client.patch(path, json={"status": "active"}, headers=admin)
    while await sender.run_once():
        pass

    changes = await received(receiver, "/program", program["secret"])
    assert [(e["data"]["previous_status"], e["data"]["status"]) for e in changes] == [
        ("active", "paused"),
        ("paused", "active"),
    ]
    assert changes[0]["data"]["offer_id"] == shop["offer"]["id"]
    assert [e["id"] for e in await received(receiver, "/alice", alice["secret"])] == [
        e["id"] for e in changes
    ]
    assert receiver.on("/carol") == []


async def test_a_cap_reached_is_told_once_per_period(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    receiver: Receiver,
    sender: Sender,
    settings: Settings,
    pool: asyncpg.Pool,
    redis: Redis,
) -> None:
    shop = await make_shop(client, admin, main_goal_multiple=True)
    cap = {"metric": "conversions", "period": "day", "limit": 1}
    patched = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}", json={"caps": [cap]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    url = receiver.base_url
    program = await endpoint(client, admin, f"{url}/program", ["offer.cap_reached"])
    bob = await endpoint(
        client, admin, f"{url}/bob", ["offer.cap_reached"], affiliate_id=shop["bob"]["id"]
    )
    click_id = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    for batch in (range(3), range(3, 6)):  # refused in two batches: still told once
        await asyncio.gather(
            *(postback(client, shop["token"], click_id=click_id, txid=f"A{i}") for i in batch)
        )
        await run_conversion_consumers(settings, pool, redis, batch=2)
    assert await pool.fetchval("SELECT count(*) FROM conversions WHERE reason = 'cap'") == 5
    while await sender.run_once():
        pass

    [reached] = await received(receiver, "/program", program["secret"])
    assert reached["type"] == "offer.cap_reached"
    data = reached["data"]
    assert (data["offer_id"], data["metric"], data["period"], data["limit"]) == (
        shop["offer"]["id"],
        "conversions",
        "day",
        1,
    )
    assert data["affiliate_id"] is None
    # Bob promotes the offer too (he has a link): the offer's cap is his news as well.
    assert [e["id"] for e in await received(receiver, "/bob", bob["secret"])] == [reached["id"]]


async def test_emit_reaches_the_program_and_that_affiliate_only(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    receiver: Receiver,
    sender: Sender,
    pool: asyncpg.Pool,
) -> None:
    """The call other features make (payouts, the affiliate lifecycle, customers)."""
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    url = receiver.base_url
    program = await endpoint(client, admin, f"{url}/program", ["payout.paid"])
    of_alice = await endpoint(client, admin, f"{url}/alice", ["payout.paid"], affiliate_id=alice)
    await endpoint(client, admin, f"{url}/bob", ["payout.paid"], affiliate_id=bob)
    await endpoint(client, admin, f"{url}/other", ["payout.created"])
    data = {"payout_id": 7, "amount": "12.50", "revenue": "20.00", "customer_id": "cus_1"}
    async with pool.acquire() as conn, conn.transaction():
        await events.emit(conn, "payout.paid", data, affiliate_id=alice)
    async with pool.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        await events.emit(conn, "payout.paid", {"payout_id": 8}, affiliate_id=alice)
        await tr.rollback()  # not committed: never sent
    while await sender.run_once():
        pass

    [full] = await received(receiver, "/program", program["secret"])
    assert full["data"] == data
    [own] = await received(receiver, "/alice", of_alice["secret"])
    assert own["id"] == full["id"]
    assert own["data"] == {"payout_id": 7, "amount": "12.50"}
    assert receiver.on("/bob") == receiver.on("/other") == []
