"""Issue 11: what a pixel may do on an offer (pixel_policy, pixel_status) and the amount
cap (max_amount) of every conversion, pixel or postback."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from app.db import Pool
from app.ops import pipeline
from app.settings import Settings
from app.streams import keys
from tests.support.conversions import (
    click,
    conversions,
    make_retries_due,
    make_shop,
    postback,
    rollup_totals,
    run_worker,
)

HUGE = "99999999999999"
SIGNED = {"signing_secret": "a-signing-secret-of-16+"}


async def balance(app: FastAPI, redis: Redis, settings: Settings) -> pipeline.PipelineState:
    return await pipeline.pipeline_state(redis, settings, keys.CONVERSIONS)


async def pixel(client: httpx.AsyncClient, click_id: str, **params: str) -> None:
    response = await client.get("/pixel.gif", params={"click_id": click_id, **params})
    assert (response.status_code, response.headers["content-type"]) == (200, "image/gif")


async def test_the_issue_a_trillion_pixel_on_a_signed_advertiser_counts_for_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    shop = await make_shop(client, admin)
    await client.patch(
        f"/api/v1/advertisers/{shop['advertiser']['id']}",
        json=SIGNED,
        headers=admin,
    )
    own = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await pixel(client, own, txid="p1", amount=HUGE)
    await run_worker(settings)
    assert await conversions(pool) == []
    assert (await rollup_totals(pool))["payout"] == 0
    state = await balance(app, redis, settings)
    assert (state.served, state.discarded, state.dead_lettered, state.balance) == (1, 1, 0, 0)


@pytest.mark.parametrize(
    ("advertiser", "policy", "counts"),
    [
        pytest.param({}, "auto", True, id="auto-plain"),
        pytest.param(SIGNED, "auto", False, id="auto-signed"),
        pytest.param({"ip_allowlist": ["127.0.0.0/8"]}, "auto", False, id="auto-allowlist"),
        pytest.param(SIGNED, "allow", True, id="allow"),
        pytest.param({}, "deny", False, id="deny"),
    ],
)
async def test_the_pixel_policy(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
    advertiser: dict[str, Any],
    policy: str,
    counts: bool,
) -> None:
    shop = await make_shop(client, admin, pixel_policy=policy)
    if advertiser:
        response = await client.patch(
            f"/api/v1/advertisers/{shop['advertiser']['id']}", json=advertiser, headers=admin
        )
        assert response.status_code == 200, response.text
    own = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await pixel(client, own, txid="P-1", amount="10")
    await run_worker(settings)
    rows = await conversions(pool)
    assert [(r["status"], r["via"]) for r in rows] == ([("pending", "pixel")] if counts else [])
    state = await balance(app, redis, settings)
    assert (state.stored, state.discarded, state.balance) == ((1, 0, 0) if counts else (0, 1, 0))


async def test_pixels_start_pending_and_the_advertisers_postback_approves_them(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(client, admin)
    own = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await pixel(client, own, txid="ORDER-1", amount="10", status="approved")
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["status"] == "pending"  # the browser's `status` is not taken
    assert (await rollup_totals(pool))["pending"] == 1
    response = await postback(client, shop["token"], click_id=own, txid="ORDER-1")
    assert response.status_code == 200
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["status"] == "approved"
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["pending"], totals["payout"]) == (1, 0, Decimal("2.50"))


async def test_an_offer_may_approve_pixels_outright(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(client, admin, pixel_status="approved")
    own = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await pixel(client, own, txid="A-1", status="rejected")
    await run_worker(settings)
    [row] = await conversions(pool)
    assert row["status"] == "approved"


async def test_max_amount_refuses_larger_amounts_of_postbacks_and_pixels(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
) -> None:
    shop = await make_shop(
        client,
        admin,
        max_amount="500",
        pixel_status="approved",
        payout={"type": "percent", "value": "10"},
        goals=[
            {
                "name": "sale",
                "revenue": {"type": "fixed", "value": "1"},
                "payout": {"type": "fixed", "value": "1"},
                "allow_multiple": True,
            }
        ],
    )
    alice = await click(app, client, shop["alice_link"]["code"])
    bob = await click(app, client, shop["bob_link"]["code"])
    await run_worker(settings)
    sent = [
        ("AT-CAP", alice, {"amount": "500"}),
        ("OVER", alice, {"amount": "500.0001", "event": "sale"}),
        ("HUGE", alice, {"amount": HUGE, "event": "sale"}),
        ("OTHER-CURRENCY", alice, {"amount": "5", "currency": "EUR", "event": "sale"}),
        ("NO-AMOUNT", alice, {"event": "sale"}),
    ]
    for txid, click_id, params in sent:
        response = await postback(client, shop["token"], click_id=click_id, txid=txid, **params)
        assert response.status_code == 200, response.text
    await pixel(client, bob, txid="PIXEL-HUGE", amount=HUGE)
    await run_worker(settings)
    rows = {r["txid"]: r for r in await conversions(pool)}
    assert {t: (r["status"], r["reason"]) for t, r in rows.items()} == {
        "AT-CAP": ("approved", None),
        "OVER": ("rejected", "amount"),
        "HUGE": ("rejected", "amount"),
        "OTHER-CURRENCY": ("rejected", "amount"),
        "NO-AMOUNT": ("approved", None),
        "PIXEL-HUGE": ("rejected", "amount"),
    }
    assert rows["HUGE"]["payout"] == rows["PIXEL-HUGE"]["payout"] == 0
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["rejected"]) == (2, 4)
    assert totals["payout"] == Decimal("51.00")  # 10% of 500, and the fixed 1 of NO-AMOUNT
    # The tracker's own rejection changes only by hand: a repeat does not undo it.
    await postback(client, shop["token"], click_id=alice, txid="HUGE", status="approved")
    await run_worker(settings)
    after = {r["txid"]: r["status"] for r in await conversions(pool)}
    assert after["HUGE"] == "rejected"


async def test_a_postback_with_another_amount_replaces_the_pixels_conversion(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    settings: Settings,
    pool: Pool,
    redis: Redis,
) -> None:
    """A pixel's amount is the browser's word: the advertiser's postback for the same click
    and order with its own amount is recorded with that amount (the pixel's conversion is
    superseded), so a pending pixel with a made-up amount cannot be approved as it is."""
    settings.attribution_retry_base_s = 3600
    shop = await make_shop(client, admin, payout={"type": "percent", "value": "10"})
    own = await click(app, client, shop["alice_link"]["code"])
    again = await click(app, client, shop["alice_link"]["code"])
    await run_worker(settings)
    await pixel(client, own, txid="ORDER-2", amount="400")
    await pixel(client, again, txid="ORDER-3", amount="30")
    await run_worker(settings)
    for click_id, txid, amount in ((own, "ORDER-2", "40"), (again, "ORDER-3", None)):
        extra = {"amount": amount} if amount else {}
        response = await postback(client, shop["token"], click_id=click_id, txid=txid, **extra)
        assert response.status_code == 200
    await run_worker(settings)
    assert await make_retries_due(pool, redis, settings) == 1
    await run_worker(settings)
    rows = await conversions(pool)
    got = sorted((r["txid"], r["status"], r["reason"], str(r["amount"])) for r in rows)
    assert got == [
        ("ORDER-2", "approved", None, "40.0000"),
        ("ORDER-2 (superseded by postback, #1)", "rejected", "superseded", "400.0000"),
        # Without an amount the postback confirms the pixel's conversion as it is.
        ("ORDER-3", "approved", None, "30.0000"),
    ]
    totals = await rollup_totals(pool)
    assert (totals["conversions"], totals["rejected"], totals["pending"]) == (2, 1, 0)
    assert totals["payout"] == Decimal("7.00")
