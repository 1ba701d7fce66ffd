"""The portal in Chromium: what an owner, an affiliate and a manager see, against the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.accounts.limits import SignInLimits
from app.db import Pool
from tests.browser import needs_browser, run_script
from tests.stats import factory
from tests.support.portal import PASSWORD, make_user


async def _program(pool: Pool, catalog: dict[str, Any]) -> dict[str, int]:
    """Clicks today and yesterday for Alice, today for Bob; conversions of both."""
    now = datetime.now(UTC).replace(microsecond=0)
    today = now if now.hour or now.minute >= 2 else now + timedelta(minutes=2)
    at = today - timedelta(minutes=1)
    clicks = [
        *(factory.click(catalog["alice_link"], at, currency="USD") for _ in range(4)),
        *(
            factory.click(catalog["alice_link"], at - timedelta(days=1), currency="USD")
            for _ in range(2)
        ),
        *(factory.click(catalog["bob_link"], at, currency="USD") for _ in range(3)),
    ]
    assert await factory.store_clicks(pool, clicks) == 9
    stored = {
        r["click_id"]: r for r in await pool.fetch("SELECT * FROM clicks ORDER BY clicked_at")
    }
    alice_clicks = [stored[c.row[0]] for c in clicks[:2]]
    bob_click = stored[clicks[-1].row[0]]
    ids = {}
    for name, click, status in (
        ("pending", alice_clicks[0], "pending"),
        ("approved", alice_clicks[1], "approved"),
        ("bob", bob_click, "approved"),
    ):
        ids[name] = await factory.add_conversion(
            pool,
            click,
            advertiser_id=catalog["advertiser"]["id"],
            currency="USD",
            status=status,
            created_at=at,
            revenue=Decimal("4.00"),
            payout=Decimal("2.50"),
        )
    return ids


def _value(tile: dict[str, Any]) -> str:
    [value] = tile["values"]
    raw: str = value["raw"]
    return raw


@needs_browser
@pytest.mark.timeout(300)
async def test_the_portal_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    conversions = await _program(pool, catalog)
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    mia = await make_user(app, client, admin, pool, email="mia@example.com", role="manager")
    assigned = await client.patch(
        f"/api/v1/affiliates/{alice}", json={"manager_id": mia["key_id"]}, headers=admin
    )
    assert assigned.status_code == 200, assigned.text
    today = datetime.now(UTC).date().isoformat()
    config = {
        "owner": "owner@example.com",
        "affiliate": "alice@example.com",
        "manager": "mia@example.com",
        "password": PASSWORD,
        "today": today,
        "bob": bob,
        "pending": conversions["pending"],
        "approved": conversions["approved"],
        "perAccount": SignInLimits().per_account,
    }
    seen = await run_script(
        Path(__file__).with_name("browser.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=240,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []

    # The owner: today's numbers are the API's, the chart is on screen.
    assert seen["ownerUrl"].endswith("/manage")
    owner_today = seen["owner"]["periods"]["today"]
    api_totals = seen["ownerApi"]["body"]["totals"]
    assert seen["ownerApi"]["status"] == 200
    for metric in ("clicks", "conversions"):
        assert _value(owner_today[metric]) == str(api_totals[metric])
    for metric in ("revenue", "payout", "profit", "epc"):
        assert _value(owner_today[metric]) == api_totals[metric], metric
        assert owner_today[metric]["values"][0]["currency"] == "USD"
    assert owner_today["clicks"]["values"][0]["text"] == "7"
    assert owner_today["payout"]["values"][0]["text"] == "5.00 USD"
    assert "▲" in owner_today["clicks"]["change"]  # 7 today against 2 yesterday
    assert "+250.0 %" in owner_today["clicks"]["change"]
    assert owner_today["conversions"]["change"] == "new vs yesterday"  # none yesterday
    assert (
        seen["owner"]["periods"]["yesterday"]["payout"]["change"] == "no change vs the day before"
    )
    chart = seen["owner"]["chart"]
    assert chart is not None
    assert chart["width"] > 300
    assert chart["height"] > 100
    assert seen["ownerCharted"].startswith("Payout (USD) per day")
    assert seen["owner"]["pageWidth"] <= seen["owner"]["viewport"]

    # The approval went through the conversions service; the tokenless form did not.
    assert seen["approved"]["status"] == "approved"
    assert f"Conversion {conversions['pending']} approved." in seen["approved"]["notice"]
    assert seen["csrf"]["status"] == 403
    assert "security token" in seen["csrf"]["text"]
    statuses = {
        r["id"]: r["status"] for r in await pool.fetch("SELECT id, status FROM conversions")
    }
    assert statuses[conversions["pending"]] == "approved"
    assert statuses[conversions["approved"]] == "approved"

    # On a phone: nothing spills off the page; the table scrolls inside its box.
    assert seen["phone"]["pageWidth"] <= 390
    assert seen["phone"]["chart"]["width"] > 200
    assert seen["phoneTable"]["pageWidth"] <= 390
    assert seen["phoneTable"]["boxScroll"] > seen["phoneTable"]["boxWidth"]
    # A conversion's record: the owner's approval in its history, fitting a phone.
    assert seen["record"]["title"].startswith(f"Conversion {conversions['pending']}")
    assert seen["record"]["visible"]
    assert any("pending" in row and "approved" in row for row in seen["record"]["history"])
    assert seen["phoneRecord"] <= 390
    assert seen["account"] == {"title": "Your account", "zone": "UTC"}
    assert sorted(seen["users"]) == ["alice@example.com", "mia@example.com", "owner@example.com"]

    # The affiliate: its own earnings, as its key would see them; no revenue anywhere.
    assert seen["affiliateUrl"].endswith("/partner")
    mine = seen["affiliate"]["periods"]["today"]
    mine_api = seen["affiliateApi"]["body"]["totals"]
    assert _value(mine["clicks"]) == str(mine_api["clicks"]) == "4"
    assert _value(mine["payout"]) == mine_api["payout"]
    assert mine["payout"]["label"] == "Earnings"
    assert not {"revenue", "profit"} & set(mine)
    assert "Revenue" not in seen["affiliate"]["text"]
    assert seen["affiliate"]["chart"]["width"] > 300
    assert seen["affiliateOther"]["status"] == 404
    assert "Bob" not in seen["affiliateOther"]["text"]
    assert seen["affiliateOtherApi"]["status"] == 403
    assert seen["affiliateConsole"] == 404
    assert seen["affiliatePhone"]["pageWidth"] <= 390

    # The manager: Alice's numbers only; Bob is out of reach.
    managed = seen["manager"]["periods"]["today"]
    assert _value(managed["clicks"]) == "4"
    assert "1 affiliate assigned" in seen["manager"]["text"]
    assert seen["managerOther"] == 404
    assert seen["managerOtherLog"] == 404
    assert set(seen["managerLog"]) == {str(conversions["pending"]), str(conversions["approved"])}

    # Locked out: the message, and no way in with the right password meanwhile.
    assert seen["locked"]["url"] == f"{tracker}/"
    assert "Too many failed sign-ins for this account" in seen["locked"]["message"]
    for name in ("manage-overview", "partner-overview", "manage-conversions-390"):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000
