"""Both stats screens by week and by month: the stats API's rows for the same query, in
the user's zone (a manager's and an affiliate's)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.portal.test_partner_money import _api_query
from tests.portal.test_stats_page import table_of
from tests.stats import factory
from tests.support.portal import make_user, owner_and_manager, signed_in

ZONE = "Asia/Kolkata"
_GROUP_CELL = re.compile(r'<td class="clip" title="([^"]*)">')
_PARTNER_CELL = re.compile(r'<td[^>]*data-col="(week|month)" data-value="([^"]*)"')


async def _clicks(pool: Pool, catalog: dict[str, Any]) -> None:
    """Alice's clicks over the last 40 days, one a day."""
    now = datetime.now(UTC).replace(microsecond=0)
    made = [
        factory.click(catalog["alice_link"], now - timedelta(days=d), currency="USD")
        for d in range(40)
    ]
    assert await factory.store_clicks(pool, made) == 40


async def test_the_managers_stats_by_week_and_month_are_the_apis(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _clicks(pool, catalog)
    await owner_and_manager(app, client, admin, pool, zone=ZONE)
    async with signed_in(app, "owner@example.com") as owner:
        for period in ("week", "month"):
            page = await owner.get(f"/manage/stats?preset=30d&group_by={period}")
            assert page.status_code == 200, page.text
            assert f'<option value="{period}" selected>' in page.text
            span = re.search(r'id="span">(\S+) to (\S+),', page.text)
            assert span, page.text
            first, last = span.groups()
            api = await client.get(
                "/api/v1/stats",
                params={"from": first, "to": last, "tz": ZONE, "group_by": period},
                headers=admin,
            )
            rows = api.json()["rows"]
            assert len(rows) >= 2
            shown = _GROUP_CELL.findall(table_of(page, "rows"))  # the period, its currency
            assert shown == [v for r in rows for v in (r[period], r["currency"])]
            csv = await owner.get(f"/manage/stats.csv?preset=30d&group_by={period}")
            assert csv.content.splitlines()[0].startswith(f"{period},".encode())
        # A week is no filter: the page says so, never a 500.
        refused = await owner.get("/manage/stats?week=2026-11-30")
        assert refused.status_code == 200
        assert 'name="week"' not in refused.text


async def test_an_affiliates_stats_by_week_and_month_are_the_apis(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _clicks(pool, catalog)
    user = await make_user(
        app,
        client,
        admin,
        pool,
        email="alice@example.com",
        role="affiliate",
        affiliate_id=catalog["alice"]["id"],
    )
    zoned = await client.patch(
        f"/api/v1/users/{user['id']}", json={"time_zone": ZONE}, headers=admin
    )
    assert zoned.status_code == 200
    async with signed_in(app, "alice@example.com") as alice:
        for period in ("week", "month"):
            page = await alice.get("/partner/stats", params={"preset": "30d", "group_by": period})
            assert page.status_code == 200, page.text
            query = _api_query(page.text)
            assert dict(parse_qsl(query))["group_by"] == period
            assert dict(parse_qsl(query))["tz"] == ZONE
            api = (await alice.get(f"/api/v1/stats?{query}")).json()
            assert len(api["rows"]) >= 2
            assert [v for _, v in _PARTNER_CELL.findall(page.text)] == [
                r[period] for r in api["rows"]
            ]
