"""Conversion caps: counted in the transaction that stores the conversions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.caps import conversions as conversion_caps
from app.db import Pool
from app.settings import Settings
from tests.support.conversions import (
    click,
    conversions,
    make_shop,
    postback,
    rollup_totals,
    run_conversion_consumers,
    run_worker,
)


def test_periods_start_at_the_utc_day_or_month() -> None:
    now = datetime(2030, 5, 17, 23, 59, tzinfo=UTC)
    assert conversion_caps.period_start(now, "day") == datetime(2030, 5, 17, tzinfo=UTC)
    assert conversion_caps.period_start(now, "month") == datetime(2030, 5, 1, tzinfo=UTC)


def test_usage_counts_an_affiliate_against_its_own_cap_and_the_offers() -> None:
    caps = [
        conversion_caps.ConversionCap(id=1, offer_id=9, period="day", limit=3, affiliate_id=None),
        conversion_caps.ConversionCap(id=2, offer_id=9, period="day", limit=1, affiliate_id=5),
    ]
    usage = conversion_caps.Usage({9: caps}, {1: 1, 2: 0})
    assert not usage.full(offer_id=9, affiliate_id=5)
    usage.count(offer_id=9, affiliate_id=5)
    assert usage.full(offer_id=9, affiliate_id=5)
    assert not usage.full(offer_id=9, affiliate_id=6)
    usage.count(offer_id=9, affiliate_id=6)
    assert usage.full(offer_id=9, affiliate_id=6)


@pytest.mark.parametrize("per_affiliate", [False, True])
async def test_conversion_caps_reject_with_reason_cap(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    per_affiliate: bool,
) -> None:
    shop = await make_shop(client, admin, main_goal_multiple=True)
    cap: dict[str, Any] = {"metric": "conversions", "period": "day", "limit": 2}
    if per_affiliate:
        cap["affiliate_id"] = shop["alice"]["id"]
    patched = await client.patch(
        f"/api/v1/offers/{shop['offer']['id']}", json={"caps": [cap]}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    await asyncio.gather(
        *(postback(client, shop["token"], click_id=alice, txid=f"A{i}") for i in range(5))
    )
    await postback(client, shop["token"], click_id=bob, txid="B0")
    await run_conversion_consumers(settings, pool, redis, consumers=3, batch=2)
    rows = await conversions(pool)
    alices = [r for r in rows if r["affiliate_id"] == shop["alice"]["id"]]
    [bobs] = [r for r in rows if r["affiliate_id"] == shop["bob"]["id"]]
    if per_affiliate:
        assert sorted(r["status"] for r in alices) == ["approved"] * 2 + ["rejected"] * 3
        assert bobs["status"] == "approved"
    else:
        approved = [r for r in rows if r["status"] == "approved"]
        assert len(approved) == 2
    assert {r["reason"] for r in rows if r["status"] == "rejected"} == {"cap"}
    totals = await rollup_totals(pool)
    assert totals["conversions"] == (3 if per_affiliate else 2)
