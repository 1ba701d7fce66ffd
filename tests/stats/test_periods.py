"""Reports by ISO week (from Monday) and by month, cut in the report's zone, equal the
brute-force counts of the raw rows; read from the rollup tiers (whole UTC days inside a
week or month)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.db import Pool
from app.keys.service import Principal
from app.stats import service as stats_service
from tests.helpers import assert_error
from tests.stats import factory
from tests.stats.test_exact import check

ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/Berlin"]
# Two months and more, over both autumn DST changes (Berlin 2025-10-26, New York 11-02).
LONG_FIRST, LONG_LAST = date(2025, 9, 14), date(2025, 11, 19)


@pytest.fixture
async def long_dataset(pool: Pool, catalog: dict[str, Any]) -> dict[str, Any]:
    """Clicks every few hours over LONG_FIRST..LAST (and a day either side), some at
    local midnights of the zones under test, a quarter of them converted."""
    rng = random.Random(16)
    start = datetime.combine(LONG_FIRST - timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(LONG_LAST + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    times = []
    at = start
    while at < end:
        times.append(at)
        at += timedelta(minutes=rng.randrange(60, 600))
    # Week and month starts in Kolkata and New York, and the second before them.
    for edge in (
        datetime(2025, 9, 30, 18, 30, tzinfo=UTC),  # 10-01 00:00 in Kolkata
        datetime(2025, 10, 1, 4, 0, tzinfo=UTC),  # 10-01 00:00 in New York
        datetime(2025, 10, 26, 18, 30, tzinfo=UTC),  # Monday 10-27 in Kolkata
        datetime(2025, 11, 3, 5, 0, tzinfo=UTC),  # Monday 11-03 in New York (EST)
        datetime(2025, 10, 31, 23, 0, tzinfo=UTC),  # 11-01 00:00 in Berlin (CET)
    ):
        times += [edge, edge - timedelta(seconds=1)]
    links = [catalog["alice_link"], catalog["bob_link"]]
    clicks = [
        factory.click(
            rng.choice(links),
            moment,
            currency="USD",
            country=rng.choice(factory.COUNTRIES),
            is_bot=rng.random() < 0.1,
            is_unique=rng.random() < 0.5,
        )
        for moment in times
    ]
    assert await factory.store_clicks(pool, clicks) == len(clicks)
    stored = await pool.fetch("SELECT * FROM clicks WHERE NOT is_bot ORDER BY clicked_at")
    for row in rng.sample(list(stored), len(stored) // 4):
        await factory.add_conversion(
            pool,
            row,
            advertiser_id=catalog["advertiser"]["id"],
            currency="USD",
            status=rng.choice(["approved", "approved", "pending", "rejected"]),
            created_at=row["clicked_at"] + timedelta(seconds=rng.randrange(3 * 3600)),
            revenue=Decimal("4.00"),
            payout=Decimal(rng.choice(["2.50", "1.2345"])),
        )
    return catalog


@pytest.mark.parametrize("tz", ZONES)
async def test_weeks_and_months_over_a_dst_change_match_the_raw_rows(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    dataset: dict[str, Any],
    pool: Pool,
    tz: str,
) -> None:
    # Friday 10-31 to Monday 11-03: a month starts on the Saturday, a week on the Monday.
    first, last = date(2025, 10, 31), date(2025, 11, 3)
    start, end = factory.day_range(first, last, tz)
    params = {"from": first.isoformat(), "to": last.isoformat(), "tz": tz}
    for group_by in (
        ["week"],
        ["month"],
        ["week", "affiliate"],
        ["month", "country"],
        ["day", "week"],
        ["hour", "month"],
    ):
        body = await check(
            client,
            pool,
            admin,
            params={**params, "group_by": ",".join(group_by)},
            start=start,
            end=end,
            tz=tz,
            group_by=group_by,
        )
        if group_by == ["week"]:
            assert {r["week"] for r in body["rows"]} == {"2025-10-27", "2025-11-03"}
        if group_by == ["month"]:
            assert {r["month"] for r in body["rows"]} == {"2025-10-01", "2025-11-01"}


@pytest.mark.parametrize("tz", ZONES)
async def test_two_months_by_week_and_by_month_are_exact_and_read_from_rollups(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    long_dataset: dict[str, Any],
    pool: Pool,
    tz: str,
) -> None:
    start, end = factory.day_range(LONG_FIRST, LONG_LAST, tz)
    params = {"from": LONG_FIRST.isoformat(), "to": LONG_LAST.isoformat(), "tz": tz}
    for group_by in (["week"], ["month"], ["month", "affiliate"], ["week", "country"]):
        asked = {**params, "group_by": ",".join(group_by)}
        plan, _ = stats_service.plan({k: [v] for k, v in asked.items()}, Principal(role="admin"))
        assert plan.reads is not None, "answered from the rollups, not the raw rows"
        if not plan.reads[0].tier.whole:  # else the network totals' tier, read alone
            assert any(r.tier.grain_s == 86400 for r in plan.reads), plan.reads
            # Cut only where a week or month starts: few short ranges besides the days.
            finer = sum(len(r.ranges) for r in plan.reads if r.tier.grain_s < 86400)
            assert finer <= 4 * 12, plan.reads
        body = await check(
            client, pool, admin, params=asked, start=start, end=end, tz=tz, group_by=group_by
        )
        if group_by == ["week"]:
            mondays = {r["week"] for r in body["rows"]}
            assert mondays == {
                (date(2025, 9, 8) + timedelta(weeks=i)).isoformat() for i in range(11)
            }
            assert all(date.fromisoformat(m).weekday() == 0 for m in mondays)
        if group_by == ["month"]:
            assert [r["month"] for r in body["rows"]] == ["2025-09-01", "2025-10-01", "2025-11-01"]


async def test_a_week_report_as_csv_and_week_is_no_filter(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any]
) -> None:
    params = {"from": "2025-10-31", "to": "2025-11-03", "tz": "Asia/Kolkata"}
    csv = await client.get(
        "/api/v1/stats", params={**params, "group_by": "week", "format": "csv"}, headers=admin
    )
    assert csv.status_code == 200
    lines = csv.text.splitlines()
    assert lines[0].startswith("week,currency,clicks")
    assert {line.split(",")[0] for line in lines[1:]} == {"2025-10-27", "2025-11-03"}
    refused = await client.get(
        "/api/v1/stats", params={**params, "week": "2025-10-27"}, headers=admin
    )
    assert_error(refused, 400, "unknown_parameter")
    unknown = await client.get(
        "/api/v1/stats", params={**params, "group_by": "year"}, headers=admin
    )
    assert_error(unknown, 400, "unknown_dimension")
