"""Notifications written where their cause is stored: lists, offer pauses and caps, group
moves and the daily digest; and the preferences API."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.mail import digest
from app.mail.mailer import Mailer
from app.settings import Settings
from tests.helpers import affiliate_headers, assert_error, create, reload_links
from tests.mail.smtp_server import SmtpServer, parts
from tests.support.conversions import BROWSER, click, make_shop, postback, run_worker

ALL_OFF = {"announcements": False, "digest": False, "offer_changes": False}


async def _mailable(
    client: httpx.AsyncClient, admin: dict[str, str], shop: dict[str, Any], **lists: bool
) -> None:
    """Give Alice and Bob addresses; Alice takes the lists named."""
    for name in ("alice", "bob"):
        affiliate_id = shop[name]["id"]
        response = await client.patch(
            f"/api/v1/affiliates/{affiliate_id}",
            json={"email": f"{name}@aff.example"},
            headers=admin,
        )
        assert response.status_code == 200, response.text
    response = await client.put(
        f"/api/v1/affiliates/{shop['alice']['id']}/notifications",
        json={**ALL_OFF, **lists},
        headers=admin,
    )
    assert response.status_code == 200, response.text


async def _outbox(pool: asyncpg.Pool, kind: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM mail_outbox WHERE kind = $1 ORDER BY id", kind)


async def test_preferences_api(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    shop = await make_shop(client, admin)
    alice, bob = shop["alice"]["id"], shop["bob"]["id"]
    path = f"/api/v1/affiliates/{alice}/notifications"
    assert (await client.get(path, headers=admin)).json() == {"affiliate_id": alice, **ALL_OFF}
    own = await affiliate_headers(client, admin, alice)
    body = {"announcements": True, "digest": True, "offer_changes": False}
    response = await client.put(path, json=body, headers=own)
    assert response.status_code == 200, response.text
    assert response.json() == {"affiliate_id": alice, **body}
    assert (await client.get(path, headers=own)).json() == {"affiliate_id": alice, **body}
    other = await affiliate_headers(client, admin, bob)
    assert_error(await client.get(path, headers=other), 403)
    assert_error(await client.put(path, json=ALL_OFF, headers=other), 403)
    bad_bodies: list[object] = [
        {"announcements": True},
        {**body, "digest": "yes"},
        {**body, "x": True},
        [],
    ]
    for bad in bad_bodies:
        assert_error(await client.put(path, json=bad, headers=admin), 400)
    assert (await client.get(path, headers=admin)).json() == {"affiliate_id": alice, **body}
    assert_error(
        await client.put("/api/v1/affiliates/999999/notifications", json=body, headers=admin), 404
    )
    assert_error(await client.get("/api/v1/affiliates/999999/notifications", headers=admin), 404)


async def test_offer_paused_mails_those_on_the_list(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
) -> None:
    shop = await make_shop(client, admin)
    await _mailable(client, admin, shop, offer_changes=True)
    path = f"/api/v1/offers/{shop['offer']['id']}"
    for status in ("paused", "paused", "active", "paused"):
        response = await client.patch(path, json={"status": status}, headers=admin)
        assert response.status_code == 200, response.text
    rows = await _outbox(pool, "offer_paused")
    assert [r["affiliate_id"] for r in rows] == [shop["alice"]["id"]] * 2
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    assert smtp.subjects() == ["Offer paused: Shoes"] * 2
    message = smtp.inbox.messages[0]
    assert message["List-Unsubscribe"] is not None
    text, _ = parts(message)
    assert f"(ID {shop['offer']['id']}) is paused" in text


@pytest.mark.parametrize("period", ["day", "month"])
async def test_a_conversion_cap_mails_once_per_period(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
    period: str,
) -> None:
    shop = await make_shop(client, admin, main_goal_multiple=True)
    await _mailable(client, admin, shop, offer_changes=True)
    cap = {"metric": "conversions", "period": period, "limit": 1}
    response = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}", json={"caps": [cap]}, headers=admin
    )
    assert response.status_code == 200, response.text
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    for i in range(4):
        await postback(client, shop["token"], click_id=alice, txid=f"A{i}")
        await postback(client, shop["token"], click_id=bob, txid=f"B{i}")
        await run_worker(settings)
    refused = await pool.fetchval("SELECT count(*) FROM conversions WHERE reason = 'cap'")
    assert refused == 7
    rows = await _outbox(pool, "offer_capped")
    # Bob refused too, but is not on the list; Alice once for the period.
    assert [r["affiliate_id"] for r in rows] == [shop["alice"]["id"]]
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m") if period == "month" else now.strftime("%Y-%m-%d")
    assert rows[0]["dedupe_key"] == (
        f"offer_capped:{shop['offer']['id']}:{shop['alice']['id']}:conversions:{stamp}"
    )
    assert rows[0]["data"]["period"] == period
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    assert smtp.subjects() == ["Offer capped: Shoes"]


async def test_a_click_cap_mails_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    shop = await make_shop(client, admin, fallback_url="https://shop.example/")
    await _mailable(client, admin, shop, offer_changes=True)
    caps = [{"metric": "clicks", "period": "day", "limit": 1}]
    response = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}", json={"caps": caps}, headers=admin
    )
    assert response.status_code == 200, response.text
    await reload_links(app)
    for round_ in range(2):
        for i in range(3):
            got = await client.get(
                f"/c/{shop['alice_link']['code']}", headers={"User-Agent": BROWSER}
            )
            assert got.status_code == 302, (round_, i, got.text)
        await run_worker(settings)
    diverted = await pool.fetchval("SELECT count(*) FROM clicks WHERE diverted = 'cap'")
    assert diverted == 5
    rows = await _outbox(pool, "offer_capped")
    assert [(r["affiliate_id"], r["data"]["metric"]) for r in rows] == [
        (shop["alice"]["id"], "clicks")
    ]


async def test_no_cap_reached_no_mail(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: asyncpg.Pool,
) -> None:
    shop = await make_shop(client, admin)
    await _mailable(client, admin, shop, offer_changes=True)
    alice = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await postback(client, shop["token"], click_id=alice, txid="T1")
    await run_worker(settings)
    assert await pool.fetchval("SELECT count(*) FROM mail_outbox") == 0


async def test_a_group_move_is_mailed_with_the_group_names(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
) -> None:
    silver = await create(client, "groups", {"name": "Silver", "rank": 1}, admin)
    gold = await create(client, "groups", {"name": "Gold", "rank": 2}, admin)
    body = {"name": "Ivy", "email": "ivy@aff.example", "group_id": silver["id"]}
    ivy = await create(client, "affiliates", body, admin)
    assert await pool.fetchval("SELECT count(*) FROM mail_outbox") == 0  # made in a group
    for group_id in (gold["id"], gold["id"], None):
        response = await client.patch(
            f"/api/v1/affiliates/{ivy['id']}", json={"group_id": group_id}, headers=admin
        )
        assert response.status_code == 200, response.text
    rows = await _outbox(pool, "group_changed")
    assert [(r["data"]["from_name"], r["data"]["to_name"]) for r in rows] == [
        ("Silver", "Gold"),
        ("Gold", None),
    ]
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    texts = [parts(m)[0] for m in smtp.inbox.messages]
    assert "from Silver to Gold." in texts[0]
    assert "from Gold to none." in texts[1]
    assert all(m["List-Unsubscribe"] is None for m in smtp.inbox.messages)


async def test_the_daily_digest(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    smtp: SmtpServer,
    pool: asyncpg.Pool,
    redis: Redis,
) -> None:
    shop = await make_shop(client, admin, main_goal_multiple=True)
    await _mailable(client, admin, shop, digest=True)
    # Bob opts in too but has nothing approved: no digest for him.
    await client.put(
        f"/api/v1/affiliates/{shop['bob']['id']}/notifications",
        json={**ALL_OFF, "digest": True},
        headers=admin,
    )
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    for i, status in enumerate(["approved", "approved", "pending", "approved", "rejected"]):
        await postback(client, shop["token"], click_id=alice, txid=f"A{i}", status=status)
    await postback(client, shop["token"], click_id=bob, txid="B0", status="pending")
    await run_worker(settings)
    today = datetime.now(UTC).date()
    # Tomorrow's run mails today's numbers, once for the fleet.
    tomorrow = today + timedelta(days=1)
    assert await digest.enqueue_daily(pool, redis, today=tomorrow) == 1
    assert await digest.enqueue_daily(pool, redis, today=tomorrow) is None
    assert await digest.enqueue(pool, day=today) == 0  # a second run adds nothing
    [row] = await _outbox(pool, "digest")
    approved = await pool.fetch(
        "SELECT payout FROM conversions WHERE affiliate_id = $1 AND status = 'approved'",
        shop["alice"]["id"],
    )
    assert row["affiliate_id"] == shop["alice"]["id"]
    assert row["data"]["conversions"] == len(approved) == 3
    assert Decimal(row["data"]["payout"]["USD"]) == sum(r["payout"] for r in approved)
    await Mailer(pool, settings).run(stop=asyncio.Event(), burst=True)
    [message] = smtp.inbox.messages
    assert message["Subject"] == f"Your approved conversions on {today.isoformat()}"
    assert "Approved conversions on" in parts(message)[0]
    assert "7.50" in parts(message)[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


async def test_group_evaluation_moves_are_mailed(
    client: httpx.AsyncClient, admin: dict[str, str], pool: asyncpg.Pool
) -> None:
    promotion = {"metric": "clicks", "window_days": 7, "min": "0", "demote": False}
    body = {"name": "Starter", "rank": 1, "promotion": promotion}
    group = await create(client, "groups", body, admin)
    await create(client, "affiliates", {"name": "Lu", "email": "lu@aff.example"}, admin)
    await create(client, "affiliates", {"name": "Mo"}, admin)  # no address: no mail
    response = await client.post("/api/v1/groups/evaluate", headers=admin)
    assert response.status_code == 200, response.text
    assert len(response.json()["moves"]) == 2
    rows = await _outbox(pool, "group_changed")
    assert [(r["data"]["from_name"], r["data"]["to_name"]) for r in rows] == [(None, "Starter")]
    assert rows[0]["data"]["to_group_id"] == str(group["id"])
