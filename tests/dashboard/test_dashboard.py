"""The dashboard page: served under a strict policy, and working in a real browser."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from app.dashboard.routes import POLICY
from app.db import Pool
from tests import browser
from tests.browser import needs_browser, run_script
from tests.conftest import ADMIN_KEY
from tests.helpers import affiliate_headers
from tests.stats import factory

# Visitor-controlled text that would run if the page wrote values as markup.
HOSTILE = '<img src=x onerror="window.pwned=1">'


async def test_the_page_and_its_assets_are_served_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/dashboard")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == POLICY
    assert "script-src 'self'" in POLICY
    assert "unsafe-inline" not in POLICY
    # No inline script for the policy to allow: the one script is a file of the same origin.
    assert page.text.count("<script") == 1
    assert '<script src="/dashboard.js"' in page.text
    script = await client.get("/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "innerHTML" not in script.text
    assert "/api/v1/stats" in script.text
    style = await client.get("/dashboard.css")
    assert style.headers["content-type"].startswith("text/css")
    icon = await client.get("/dashboard.svg")
    assert icon.headers["content-type"] == "image/svg+xml"
    assert page.headers["x-content-type-options"] == "nosniff"


# The app on a loopback port, for the browser (tests/browser.py).
tracker = browser.tracker


@needs_browser
async def test_the_dashboard_in_chromium(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    pool: Pool,
    tracker: str,
) -> None:
    at = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
    clicks = [
        *(factory.click(catalog["alice_link"], at, currency="USD", sub1="kw1") for _ in range(3)),
        *(factory.click(catalog["bob_link"], at, currency="USD", sub1=HOSTILE) for _ in range(2)),
        factory.click(catalog["bob_link"], at, currency="USD", sub1="=1+1"),
    ]
    assert await factory.store_clicks(pool, clicks) == 6
    alice = await affiliate_headers(client, admin, catalog["alice"]["id"])
    seen = await run_script(
        Path(__file__).with_name("browser.js"),
        tracker,
        ADMIN_KEY,
        alice["Authorization"].removeprefix("Bearer "),
    )
    assert seen["problems"] == []

    table = seen["admin"]
    assert table["head"][:3] == ["sub1", "currency", "clicks"]
    assert {"revenue", "profit", "CR %", "EPC"} <= set(table["head"])
    sub1 = table["head"].index("sub1")
    clicks_at = table["head"].index("clicks")
    assert [(r[sub1], r[clicks_at]) for r in table["rows"]] == [
        ("kw1", "3"),
        (HOSTILE, "2"),
        ("=1+1", "1"),
    ]
    # The hostile sub-ID is shown as text: nothing ran, no element was made of it.
    assert table["pwned"] is None
    assert table["images"] == 0
    assert table["foot"][0][:3] == ["Total", "USD", "6"]
    assert "#from=2025-11-01&to=2025-11-02&tz=UTC&group_by=sub1" in table["hash"]
    # The CSV download is the API's export, formulas defused.
    rows = list(csv.reader(io.StringIO(table["csv"])))
    assert rows[0][:3] == ["sub1", "currency", "clicks"]
    assert [r[0] for r in rows[1:]] == ["kw1", HOSTILE, "'=1+1"]
    assert table["csvName"] == "stats-2025-11-01.csv"

    # On screen: totals and the table, no chart by sub1, no error.
    assert table["shown"]["summary"] is not None
    assert table["shown"]["rows"] is not None
    assert table["shown"]["chart"] is None
    assert table["shown"]["error"] is None

    by_day = seen["byDay"]
    assert by_day["rows"][0][:3] == ["2025-11-01", "USD", "6"]
    # The chart is on screen with its one bar, each with a real size.
    assert by_day["bars"] == 1
    chart = by_day["shown"]["chart"]
    assert chart is not None
    assert chart["width"] > 300
    assert chart["height"] > 50
    [(bar_width, bar_height)] = by_day["barBoxes"]
    assert bar_width > 0
    assert bar_height > 0
    assert by_day["shown"]["rows"] is not None

    assert "Mars/Base" in seen["error"]
    assert "time zone" in seen["error"]
    bad_zone = seen["badZone"]
    assert bad_zone["shown"]["error"] is not None
    assert bad_zone["rows"] == by_day["rows"]

    by_offer = seen["byOffer"]
    assert by_offer["shown"]["error"] is None
    assert by_offer["shown"]["chart"] is None
    assert by_offer["shown"]["rows"] is not None
    assert by_offer["bars"] == 0

    mine = seen["affiliate"]
    assert mine["shown"]["chart"] is not None
    assert mine["bars"] == 1
    assert not {"revenue", "profit"} & set(mine["head"])
    assert "payout" in mine["head"]
    assert [r[:3] for r in mine["rows"]] == [["2025-11-01", "USD", "3"]]
    assert "-payout" in mine["sortable"]
    assert not {"-revenue", "-profit"} & set(mine["sortable"])
