"""The affiliate's stats, balance and announcements screens in Chromium: the numbers a
person sees are those the API gives the same session, the chart is drawn, the downloads
are the API's bytes, the announcement renders without running anything, another
affiliate's statement is a 404, and every screen fits a phone."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from app.portal.overview import REASON_METRICS
from tests.browser import needs_browser, run_script
from tests.portal import test_partner_money as http_tests
from tests.support.portal import PASSWORD

# Alice's and Bob's clicks, money and announcements (the HTTP tests' own).
money = http_tests.money
SHOTS = (
    "partner-stats",
    "partner-stats-sub1",
    "partner-balance",
    "partner-announcements",
    "partner-announcement",
    "partner-stats-390",
    "partner-balance-390",
    "partner-announcement-390",
)


def _raw(value: Any) -> str:
    return "" if value is None else str(value)


@needs_browser
@pytest.mark.timeout(240)
async def test_the_affiliates_money_screens_in_chromium(
    money: dict[str, Any], tracker: str, artifacts: Path
) -> None:
    made = money
    config = {
        "affiliate": "alice@example.com",
        "password": PASSWORD,
        "affiliateId": made["alice"],
        "bobPayout": made["bob_payout"],
        "bobAnnouncement": made["to_bob"],
    }
    script, shots = Path(__file__).with_name("partner_money.js"), {"SCREENSHOT_DIR": str(artifacts)}
    seen = await run_script(script, tracker, orjson.dumps(config).decode(), seconds=200, **shots)
    assert seen["problems"] == []  # no script error, and no alert() from the announcement
    assert seen["foreign"] == []

    # Stats: the tiles and every cell are the API's, as the page writes them.
    stats, api = seen["stats"], seen["statsApi"]
    for metric in ("clicks", "conversions", "payout", "cr", "epc"):
        assert stats["tiles"][metric]["raw"] == _raw(api["totals"][metric]), metric
    assert api["totals"]["clicks"] >= 2
    assert stats["tiles"]["clicks"]["text"] == str(api["totals"]["clicks"])
    assert stats["tiles"]["payout"]["text"] == f"{api['totals']['payout']} USD"
    # Every column of the API's rows but the diverted reasons (the page's own table).
    assert [{c: v["raw"] for c, v in r.items()} for r in stats["rows"]] == [
        {c: _raw(v) for c, v in r.items() if c not in REASON_METRICS} for r in api["rows"]
    ]
    assert stats["chart"]["width"] > 300
    assert stats["chart"]["height"] > 100
    assert seen["chartLabel"].startswith("Payout (USD) per day, last 7 days")
    assert seen["statsCsv"]["status"] == 200
    assert seen["statsCsv"]["type"].startswith("text/csv")
    assert seen["statsCsv"]["same"]
    assert "revenue" not in seen["statsCsv"]["head"]
    sub1s = sorted(r["sub1"]["text"] for r in seen["bySub"]["rows"])
    assert sub1s == ["(none)", "alice_link-kw"]
    assert [_raw(r["sub1"]) for r in seen["bySubApi"]["rows"]] == [
        r["sub1"]["raw"] for r in seen["bySub"]["rows"]
    ]
    assert seen["bySubCsv"]["same"]
    assert "bob_link-kw" not in seen["statsText"]
    assert "Revenue" not in seen["statsText"]

    # Balance: each figure the API's; the ledger and the payouts are Alice's.
    [usd] = seen["balanceApi"]["balances"]
    assert len(seen["balance"]) == 8
    for field, shown in seen["balance"].items():
        assert Decimal(shown["raw"]) == Decimal(usd[field]), field
    assert seen["balance"]["available"]["text"] == "7.50 USD"
    assert seen["balance"]["paid"]["text"] == "25.00 USD"
    assert seen["entries"] == seen["entriesApi"]
    assert seen["payouts"] == [made["alice_payout"]]
    assert seen["statement"]["status"] == 200
    assert seen["statement"]["same"]
    assert seen["statement"]["head"].startswith("%PDF")
    assert "40.00" not in seen["balanceText"]

    # Announcements: hers only; the body shown, nothing of the script or the trap kept.
    assert [a["text"] for a in seen["announcements"]] == ["Spring bonus"]
    one = seen["announcement"]
    assert one["title"] == "Spring bonus"
    assert one["visible"]
    assert "Spring bonus for everyone." in one["text"]
    assert one["scripts"] == 0
    assert one["links"] == ["https://example.com/terms"]
    assert one["table"]
    for refused in (seen["otherStatement"], seen["otherAnnouncement"]):
        assert refused["status"] == 404
        assert "Bob" not in refused["text"]

    # A phone: nothing spills off the page, the chart drawn within it.
    assert seen["phoneStats"]["pageWidth"] <= 390
    assert 200 < seen["phoneStats"]["chart"]["width"] <= 390
    assert seen["phoneBalance"]["pageWidth"] <= 390
    assert seen["phoneAnnouncement"]["pageWidth"] <= 390
    for name in SHOTS:
        assert (artifacts / f"{name}.png").stat().st_size > 10_000, name
