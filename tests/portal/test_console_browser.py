"""The console's stats, API keys, webhooks, deliveries and integrations screens in
Chromium: what an owner sees on a desk and on a phone (the chart drawn, the API's
numbers, the CSV), and a manager held to their affiliate."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.settings import Settings
from tests.browser import needs_browser, run_script
from tests.fixtures.receiver import LOOPBACK
from tests.stats import factory
from tests.support.portal import PASSWORD, alice_sale, owner_and_manager

ZONE = "Asia/Kolkata"
SCREENS = ("stats", "keys", "webhooks", "deliveries", "integrations")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"sender_allowed_networks": LOOPBACK})


@needs_browser
@pytest.mark.timeout(300)
async def test_the_console_screens_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    now = datetime.now(UTC)
    clicks = [
        factory.click(catalog["alice_link"], now - timedelta(days=d), currency="USD")
        for d in (1, 2, 2, 5, 9, 9, 9, 20)
    ]
    clicks.append(factory.click(catalog["bob_link"], now - timedelta(days=3), currency="USD"))
    assert await factory.store_clicks(pool, clicks) == 9
    await alice_sale(pool, catalog)
    await owner_and_manager(app, client, admin, pool, assigned=alice, zone=ZONE)
    today = now.astimezone(ZoneInfo(ZONE)).date()
    config = {
        "owner": "owner@example.com",
        "manager": "mia@example.com",
        "password": PASSWORD,
        "alice": alice,
        "bob": bob,
        "zone": ZONE,
        "today": today.isoformat(),
        "from30": (today - timedelta(days=29)).isoformat(),
        "hook": "https://hooks.example/alice",
        "advertiser": catalog["advertiser"]["id"],
    }
    seen = await run_script(
        Path(__file__).with_name("console.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=240,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    # Stats: the nav's link; the chart drawn with a real box; the API's numbers in the
    # owner's zone; the CSV the API's, byte for byte.
    assert seen["statsUrl"].endswith("/manage/stats")
    assert "compare=1" in seen["statsQuery"]
    assert "preset=30d" in seen["statsQuery"]
    assert seen["span"].startswith(f"{config['from30']} to {config['today']}, days in {ZONE}")
    for chart in ("chart", "todayChart", "phoneChart", "managerChart"):
        assert seen[chart]["visible"], chart
        assert seen[chart]["width"] > 200, chart
        assert seen[chart]["height"] > 100, chart
    assert seen["chartMetric"] == "payout"
    assert "per hour" in seen["todayLabel"]
    api = orjson.loads(seen["statsApi"]["text"])
    for metric in ("clicks", "conversions", "revenue", "payout", "profit", "cr", "epc"):
        value = api["totals"][metric]
        assert seen["totals"][metric]["value"] == ("" if value is None else str(value)), metric
    assert seen["totals"]["clicks"]["text"].startswith(str(api["totals"]["clicks"]))
    assert seen["totals"]["payout"]["text"].startswith("7.50 USD")
    assert api["totals"]["clicks"] == 10
    assert [r[0] for r in seen["rows"]] == [str(r["affiliate"]) for r in api["rows"]]
    assert seen["csv"]["status"] == 200
    assert seen["csv"]["text"] == seen["apiCsv"]["text"]
    lines = list(csv.DictReader(io.StringIO(seen["csv"]["text"])))
    assert sum(int(line["clicks"]) for line in lines) == 10

    # Keys: the secret shown once worked until revoked.
    assert seen["madeKey"].startswith("trk_")
    assert seen["keyCheck"] == 200
    assert "revoked." in seen["keyNotice"]
    assert "revoked" in seen["keyRow"]
    # Webhooks and deliveries: a secret, a test event, its delivery retried.
    assert seen["secret"].startswith("whsec_")
    assert "Test event sent" in seen["testNotice"]
    assert any("webhook.test" in " ".join(d) for d in seen["deliveries"])
    assert "is due now" in seen["retryNotice"]
    # An integration: the URL the CRM calls, on the list and on its page.
    assert seen["integrationUrl"].startswith("http://tracker.test/integrations/salesforce/")
    assert seen["integrationInbound"] == seen["integrationUrl"]
    assert len(seen["integrationSecret"]) >= 32
    assert seen["integrationStages"] == "Closed Won = approved\nClosed Lost = rejected"

    # A phone: no screen wider than 390 px, wide tables scrolling in their boxes.
    for screen in SCREENS:
        assert seen["phone"][screen]["pageWidth"] <= 390, screen
        for box in seen["phone"][screen]["boxes"]:
            assert box["width"] <= 390, screen
    assert any(b["scroll"] > b["width"] for b in seen["phone"]["stats"]["boxes"])

    # The manager: Alice's numbers only, no keys screen, Bob's a 404.
    assert [r[1] for r in seen["managerRows"]] == ["Alice"]
    assert seen["managerTotals"]["clicks"]["value"] == "9"
    assert "API keys" not in seen["managerNav"]
    assert seen["managerOther"]["status"] == 404
    assert "Bob" not in seen["managerOther"]["text"]
    for name in (
        *(f"manage-{s}" for s in SCREENS),
        *(f"manage-{s}-390" for s in SCREENS),
        "manager-stats",
        "manage-integration",
    ):
        assert (artifacts / f"{name}.png").stat().st_size > 10_000, name
