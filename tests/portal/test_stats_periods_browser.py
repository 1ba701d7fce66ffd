"""Both stats screens by week and by month in Chromium: the grouping picked, the rows
the stats API answers (a manager's affiliates only), an affiliate's on a phone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
from fastapi import FastAPI

from app.db import Pool
from app.portal.overview import preset
from tests.browser import needs_browser, run_script
from tests.portal.test_stats_periods import ZONE, _clicks
from tests.support.portal import PASSWORD, assign, make_user, owner_and_manager


@needs_browser
@pytest.mark.timeout(180)
async def test_the_stats_screens_by_week_and_month_in_chromium(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
    tracker: str,
    artifacts: Path,
) -> None:
    await _clicks(pool, catalog)
    _, mia = await owner_and_manager(app, client, admin, pool)
    await assign(client, admin, catalog["alice"]["id"], mia)
    await client.patch(f"/api/v1/users/{mia['id']}", json={"time_zone": ZONE}, headers=admin)
    user = await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    await client.patch(f"/api/v1/users/{user['id']}", json={"time_zone": ZONE}, headers=admin)
    config = {"manager": "mia@example.com", "affiliate": "alice@example.com", "password": PASSWORD}

    seen = await run_script(
        Path(__file__).with_name("stats_periods.js"),
        tracker,
        orjson.dumps(config).decode(),
        seconds=150,
        SCREENSHOT_DIR=str(artifacts),
    )

    assert seen["problems"] == []
    assert seen["foreign"] == []
    assert {"day", "week", "month"} <= set(seen["managerOptions"])
    assert parse_qs(seen["managerQuery"][1:])["group_by"][0] == "week"
    # The weeks shown are Mondays in the manager's zone, as the API reports them.
    weeks = seen["managerWeeks"]
    assert len(weeks) >= 5
    span = preset("30d", datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date())
    listed = await client.get(
        "/api/v1/stats",
        params={
            "from": span.first.isoformat(),
            "to": span.last.isoformat(),
            "tz": ZONE,
            "group_by": "week",
            "affiliate": catalog["alice"]["id"],
        },
        headers=admin,
    )
    assert weeks == [r["week"] for r in listed.json()["rows"]]
    assert all(datetime.fromisoformat(w).weekday() == 0 for w in weeks)
    assert "Week (from Monday)" in seen["partnerLabels"]
    assert "Month" in seen["partnerLabels"]
    assert parse_qs(seen["partnerQuery"][1:])["group_by"][0] == "month"
    assert len(seen["partnerMonths"]) in (2, 3)
    assert all(m.endswith("-01") for m in seen["partnerMonths"])
    assert seen["partnerFits"]["pageWidth"] <= 390
