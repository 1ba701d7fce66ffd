"""Erasure end to end: nothing of the subject is left anywhere, and no number moves."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.accounts import limits as sign_in_limits
from app.accounts import sessions as user_sessions
from app.clickid import new_click_id, parse_click_id
from app.clicks import enrich
from app.clicks import record as click_record
from app.db import Pool
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from tests.helpers import reload_links
from tests.support import dump
from tests.support.conversions import run_worker

IP = "198.51.100.23"
OTHER_IP = "203.0.113.9"
REPORTS: tuple[dict[str, str], ...] = (
    {},
    {"group_by": "country,device,os,browser"},
    {"group_by": "day,affiliate,sub1"},
    {"group_by": "hour,link,source"},
)


def agent(tag: str) -> str:
    return f"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0 Erased{tag}/1"


def referer(tag: str) -> str:
    return f"https://referrer.example/page?who=visitor-{tag}"


def language(tag: str) -> str:
    return f"x-lang-{tag.lower()},de;q=0.5"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The test client is 127.0.0.1: it may say which visitor it stands for.
    return settings.model_copy(update={"trusted_proxies": ["127.0.0.1/32"]})


async def visit(client: httpx.AsyncClient, code: str, ip: str, tag: str) -> str:
    response = await client.get(
        f"/c/{code}",
        params={"sub1": "kw", "source": "mail"},
        headers={
            "User-Agent": agent(tag),
            "X-Forwarded-For": ip,
            "Referer": referer(tag),
            "Accept-Language": language(tag),
        },
    )
    assert response.status_code == 302, response.text
    client.cookies.clear()
    return response.headers["set-cookie"].split(";")[0].split("=", 1)[1]


async def reports(client: httpx.AsyncClient, admin: dict[str, str]) -> list[Any]:
    answers = []
    for params in REPORTS:
        response = await client.get("/api/v1/stats", params=params, headers=admin)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


async def balance(redis: Redis, settings: Settings) -> tuple[int, int]:
    clicks = await pipeline.pipeline_state(redis, settings)
    conversions = await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)
    return clicks.balance, conversions.balance


def assert_nowhere(everything: bytes, needles: list[str]) -> None:
    for needle in needles:
        assert needle.encode() not in everything, needle


async def test_erasure_by_ip_leaves_nothing_and_changes_no_number(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    await reload_links(app)
    code = catalog["alice_link"]["code"]
    stored = await visit(client, code, IP, "A")
    await visit(client, catalog["bob_link"]["code"], OTHER_IP, "Kept")
    # A click record the worker cannot store (link ID 0), dead-lettered with the IP.
    shard = keys.shard_keys(keys.CLICKS, settings.stream_shards)[0]
    dead_id, dead_ms = new_click_id()
    raw = click_record.encode(
        dead_id,
        dead_ms,
        0,
        1,
        1,
        "USD",
        None,
        {},
        IP,
        agent("Dead"),
        referer("Dead"),
        language("Dead"),
        False,
    )
    await redis.xadd(shard, {"r": raw})
    await redis.hincrby(keys.metrics_key(shard), "enqueued", 1)
    await run_worker(settings)

    token = catalog["advertiser"]["postback_token"]
    sale = await client.get(
        "/postback", params={"token": token, "click_id": stored, "txid": "o-1", "amount": "10"}
    )
    assert sale.status_code == 200, sale.text
    pixel = await client.get(
        "/pixel.gif", params={"click_id": stored, "txid": "o-2"}, headers={"X-Forwarded-For": IP}
    )
    assert pixel.status_code == 200
    await run_worker(settings)
    await portal_visits(pool, redis, catalog["alice"]["id"])
    # One click still in the stream, one in the spool: Redis is out of reach for the web
    # process's producer (not for the API) until the erasure is done, so it stays there.
    waiting = await visit(client, code, IP, "B")
    async with app.redirector.queue.redis_unreachable():  # type: ignore[attr-defined]
        spooled = await visit(client, code, IP, "C")
        assert list((settings.tracker_data_dir / "spool").glob("clicks-*.spool*"))
        before, erasure_id = await _erase_everywhere(client, admin, pool, redis, settings)
    # The waiting clicks are stored later, without personal data, as they would have been.
    assert await app.redirector.queue.replay() == 1  # type: ignore[attr-defined]
    await run_worker(settings)
    assert await balance(redis, settings) == (0, 0)
    assert_nowhere(await dump.everything(pool, redis, settings.tracker_data_dir), NEEDLES)
    rows = await pool.fetch(
        "SELECT * FROM clicks WHERE click_id = ANY($1::uuid[])",
        [parse_click_id(waiting), parse_click_id(spooled)],
    )
    firefox = enrich.describe_agent(agent("B"))
    assert len(rows) == 2
    for row in rows:
        assert (row["ip"], row["user_agent"], row["referer"], row["accept_language"]) == (
            None,
            None,
            None,
            None,
        )
        assert (row["device"], row["os"], row["browser"], row["is_unique"]) == (
            firefox.device,
            firefox.os,
            firefox.browser,
            True,
        )
        assert (row["sub1"], row["source"]) == ("kw", "mail")
    totals = (await reports(client, admin))[0]["totals"]
    assert totals["clicks"] == before[0]["totals"]["clicks"] + 2
    assert totals["unique_clicks"] == before[0]["totals"]["unique_clicks"] + 2
    assert totals["clicks"] == await pool.fetchval("SELECT count(*) FROM clicks WHERE NOT is_bot")

    listed = await client.get("/api/v1/privacy/erasures", headers=admin)
    assert listed.status_code == 200
    assert [e["id"] for e in listed.json()["items"]] == [erasure_id]
    again = await client.post("/api/v1/privacy/erase", json={"ip": IP}, headers=admin)
    assert again.json()["total"] == 0


async def portal_visits(pool: Pool, redis: Redis, affiliate_id: int) -> None:
    """The affiliate's user signed in to the portal from the erased address and from
    another, and mistyped a password once from the erased one."""
    user_id = await pool.fetchval(
        "INSERT INTO users (email, role, affiliate_id, created_by, updated_by)"
        " VALUES ('alice@example.com', 'affiliate', $1, 'test', 'test') RETURNING id",
        affiliate_id,
    )
    for ip, tag in ((IP, "Session"), (OTHER_IP, "KeptSession")):
        await user_sessions.start(
            pool, user_id=user_id, ip=ip, user_agent=agent(tag), lifetime=timedelta(days=1)
        )
    limits = sign_in_limits.SignInLimits()
    await sign_in_limits.failed(redis, limits, email="alice@example.com", ip=IP)


ERASED = ("A", "B", "C", "Dead")
NEEDLES = [IP, agent("Session")] + [f(tag) for tag in ERASED for f in (agent, referer, language)]


async def _erase_everywhere(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, redis: Redis, settings: Settings
) -> tuple[list[Any], int]:
    """Erase IP while clicks of it wait in the stream and the spool; the reports before,
    and the erasure's ID."""
    before = await reports(client, admin)
    money = await pool.fetch("SELECT id, status, revenue, payout, amount FROM conversions")
    assert await balance(redis, settings) == (0, 0)
    everything = await dump.everything(pool, redis, settings.tracker_data_dir)
    assert all(n.encode() in everything for n in NEEDLES)  # the check can fail

    response = await client.post("/api/v1/privacy/erase", json={"ip": IP}, headers=admin)
    assert response.status_code == 201, response.text
    erasure = response.json()
    assert erasure["counts"] == {
        "clicks_spool": 1,
        # B, waiting; A and the dead letter's entry, stored or settled but not yet trimmed.
        "clicks_stream": 3,
        "clicks_dead_letters": 1,
        "clicks": 1,
        "pixel_rate_counters": 1,
        "user_sessions": 1,
        "sign_in_counter": 1,
    }
    assert (erasure["kind"], erasure["subject"], erasure["key_id"]) == (
        "ip",
        "198.51.100.0/24",
        None,
    )
    assert erasure["total"] == 9

    assert_nowhere(await dump.everything(pool, redis, settings.tracker_data_dir), NEEDLES)
    kept = await dump.everything(pool, redis, settings.tracker_data_dir)
    assert agent("Kept").encode() in kept
    assert agent("KeptSession").encode() in kept
    assert await reports(client, admin) == before
    after = await pool.fetch("SELECT id, status, revenue, payout, amount FROM conversions")
    assert after == money
    assert await balance(redis, settings) == (0, 0)

    return before, int(erasure["id"])


async def test_an_address_written_in_another_form_is_erased_by_its_normal_form(
    client: httpx.AsyncClient, admin: dict[str, str], redis: Redis
) -> None:
    limits = sign_in_limits.SignInLimits()
    await sign_in_limits.failed(redis, limits, email="alice@example.com", ip="2001:DB8::0:1")

    response = await client.post("/api/v1/privacy/erase", json={"ip": "2001:db8::1"}, headers=admin)

    assert response.status_code == 201, response.text
    assert response.json()["counts"].get("sign_in_counter") == 1
    assert [k async for k in redis.scan_iter("signin:fail:ip:*")] == []
