"""Every report equals a brute-force count over the raw clicks and conversions."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from app.db import Pool
from app.keys.service import Principal
from app.stats import service as stats_service
from app.stats.queries import Read
from tests.stats import factory

ZONES = ["UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York", "Europe/Berlin"]
GROUPINGS = [
    [],
    ["day"],
    ["hour"],
    ["affiliate", "offer"],
    ["day", "country", "device"],
    ["link", "os", "browser"],
    ["sub1"],
    ["hour", "sub1", "source"],
    ["day", "affiliate", "sub2"],
    ["day", "link"],
    ["day", "offer", "country"],
]
FIRST_DAY, LAST_DAY = date(2025, 11, 1), date(2025, 11, 2)


async def check(
    client: httpx.AsyncClient,
    pool: Pool,
    headers: dict[str, str],
    *,
    params: dict[str, Any],
    start: datetime,
    end: datetime,
    tz: str,
    group_by: list[str],
    filters: dict[str, list[Any]] | None = None,
    admin: bool = True,
) -> dict[str, Any]:
    response = await client.get("/api/v1/stats", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    expected = await factory.brute_force(
        pool, start=start, end=end, tz=tz, group_by=group_by, filters=filters
    )
    assert expected, "the data set should have rows in this range"
    assert factory.api_groups(body, group_by) == {
        key: totals.metrics(admin=admin) for key, totals in expected.items()
    }, params
    by_currency: dict[str, factory.Totals] = {}
    for key, totals in expected.items():
        into = by_currency.setdefault(key[-1], factory.Totals())
        for name, count in totals.counts.items():
            into.counts[name] += count
        into.revenue += totals.revenue
        into.payout += totals.payout
        into.customer_revenue += totals.customer_revenue
    assert body["totals_by_currency"] == [
        {"currency": c, **by_currency[c].metrics(admin=admin)} for c in sorted(by_currency)
    ]
    return body


@pytest.mark.parametrize("tz", ZONES)
async def test_reports_by_every_grouping_match_the_raw_rows(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    dataset: dict[str, Any],
    pool: Pool,
    tz: str,
) -> None:
    start, end = factory.day_range(FIRST_DAY, LAST_DAY, tz)
    for group_by in GROUPINGS:
        params = {"from": FIRST_DAY.isoformat(), "to": LAST_DAY.isoformat(), "tz": tz}
        if group_by:
            params["group_by"] = ",".join(group_by)
        body = await check(
            client, pool, admin, params=params, start=start, end=end, tz=tz, group_by=group_by
        )
        if "affiliate" in group_by:
            names = {r["affiliate"]: r["affiliate_name"] for r in body["rows"]}
            assert names[dataset["alice"]["id"]] == "Alice"
        if group_by == ["day"]:
            # Two days, each in two currencies (the EUR offer has traffic every day).
            assert len(body["rows"]) == 4


async def test_a_dst_change_day_has_its_25_hours(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    tz = "America/New_York"
    start, end = factory.day_range(LAST_DAY, LAST_DAY, tz)
    body = await check(
        client,
        pool,
        admin,
        params={"from": "2025-11-02", "to": "2025-11-02", "tz": tz, "group_by": "hour"},
        start=start,
        end=end,
        tz=tz,
        group_by=["hour"],
    )
    hours = {r["hour"] for r in body["rows"]}
    # The repeated hour stays two rows, told apart by their offsets.
    assert {"2025-11-02T01:00:00-04:00", "2025-11-02T01:00:00-05:00"} <= hours
    assert (end - start).total_seconds() == 25 * 3600


@pytest.mark.parametrize("tz", ["Asia/Kathmandu", "UTC"])
async def test_times_off_the_quarter_hour_are_exact_too(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool, tz: str
) -> None:
    start = datetime(2025, 11, 1, 3, 7, 11, tzinfo=UTC)
    end = datetime(2025, 11, 2, 21, 53, tzinfo=UTC)
    await check(
        client,
        pool,
        admin,
        params={
            "from": "2025-11-01T03:07:11Z",
            "to": "2025-11-02T21:53:00+00:00",
            "tz": tz,
            "group_by": "day,offer",
        },
        start=start,
        end=end,
        tz=tz,
        group_by=["day", "offer"],
    )


@pytest.mark.parametrize("tz", ["Asia/Kolkata", "America/New_York", "UTC"])
@pytest.mark.parametrize("group_by", [[], ["affiliate", "offer"], ["day", "link"], ["country"]])
async def test_ranges_read_from_several_tiers_are_exact(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    dataset: dict[str, Any],
    pool: Pool,
    tz: str,
    group_by: list[str],
) -> None:
    # Bounds on a quarter hour but not an hour: quarter hours, hours and a UTC day.
    start = datetime(2025, 10, 31, 22, 45, tzinfo=UTC)
    end = datetime(2025, 11, 2, 20, 15, tzinfo=UTC)
    params = {"from": "2025-10-31T22:45:00Z", "to": "2025-11-02T20:15:00Z", "tz": tz}
    if group_by:
        params["group_by"] = ",".join(group_by)
    plan, _ = stats_service.plan({k: [v] for k, v in params.items()}, Principal(role="admin"))
    assert plan.reads is not None
    assert len(plan.reads) == 1 if not group_by else len(plan.reads) > 1, plan.reads
    await check(client, pool, admin, params=params, start=start, end=end, tz=tz, group_by=group_by)


async def test_filters_match_the_raw_rows(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    tz = "Asia/Kolkata"
    start, end = factory.day_range(FIRST_DAY, LAST_DAY, tz)
    alice = dataset["alice"]["id"]
    cases: list[tuple[dict[str, str], dict[str, list[Any]], list[str]]] = [
        ({"affiliate": str(alice)}, {"affiliate": [alice]}, ["day"]),
        ({"country": "de,IN"}, {"country": ["DE", "IN"]}, ["country", "offer"]),
        ({"sub1": "=cmd"}, {"sub1": ["=cmd"]}, ["day", "sub1"]),
        ({"device": "mobile", "hour": "9,10,23"}, {"device": ["mobile"], "hour": [9, 10, 23]},
         ["hour"]),
        ({"day": "2025-11-02", "source": "fb"}, {"day": [date(2025, 11, 2)], "source": ["fb"]},
         ["affiliate"]),
        ({"country": ""}, {"country": [""]}, ["link"]),
    ]  # fmt: skip
    for extra, filters, group_by in cases:
        params = {
            "from": "2025-11-01",
            "to": "2025-11-02",
            "tz": tz,
            "group_by": ",".join(group_by),
        }
        await check(
            client,
            pool,
            admin,
            params={**params, **extra},
            start=start,
            end=end,
            tz=tz,
            group_by=group_by,
            filters=filters,
        )


async def test_an_affiliate_sees_only_its_own_rows_and_no_revenue(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    start, end = factory.day_range(FIRST_DAY, LAST_DAY, "UTC")
    alice = dataset["alice"]["id"]
    body = await check(
        client,
        pool,
        dataset["alice_headers"],
        params={"from": "2025-11-01", "to": "2025-11-02", "group_by": "affiliate,sub1"},
        start=start,
        end=end,
        tz="UTC",
        group_by=["affiliate", "sub1"],
        filters={"affiliate": [alice]},
        admin=False,
    )
    assert {r["affiliate"] for r in body["rows"]} == {alice}
    for part in [*body["rows"], body["totals"]]:
        assert "revenue" not in part
        assert "profit" not in part
        assert "payout" in part
    other = await client.get(
        "/api/v1/stats",
        params={"affiliate": str(dataset["bob"]["id"])},
        headers=dataset["alice_headers"],
    )
    assert other.status_code == 403
    for params in ({"sort": "-revenue"}, {"sort": "profit"}):
        refused = await client.get("/api/v1/stats", params=params, headers=dataset["alice_headers"])
        assert refused.status_code == 400


async def test_top_n_sorts_before_it_cuts_and_totals_cover_everything(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    start, end = factory.day_range(FIRST_DAY, LAST_DAY, "UTC")
    params = {"from": "2025-11-01", "to": "2025-11-02", "group_by": "sub1"}
    response = await client.get(
        "/api/v1/stats", params={**params, "sort": "-clicks", "limit": "2"}, headers=admin
    )
    assert response.status_code == 200
    body = response.json()
    expected = await factory.brute_force(pool, start=start, end=end, tz="UTC", group_by=["sub1"])
    clicks = sorted((t.counts["clicks"] for t in expected.values()), reverse=True)
    assert [r["clicks"] for r in body["rows"]] == clicks[:2]
    assert sum(t["clicks"] for t in body["totals_by_currency"]) == sum(clicks)
    # Two currencies: counts add up, money does not.
    assert body["totals"]["currency"] is None
    assert body["totals"]["clicks"] == sum(clicks)
    assert body["totals"]["revenue"] is None


async def test_the_planner_takes_the_coarsest_exact_sources(dataset: dict[str, Any]) -> None:
    admin = Principal(role="admin")

    def reads(**params: str) -> tuple[Read, ...] | None:
        plan, _ = stats_service.plan({k: [v] for k, v in params.items()}, admin)
        return plan.reads

    def tables(**params: str) -> tuple[str, ...] | None:
        found = reads(**params)
        return tuple(r.tier.table for r in found) if found is not None else None

    def table(**params: str) -> str | None:
        found = tables(**params)
        assert found is None or len(found) == 1, found
        return found[0] if found else None

    span = {"from": "2025-11-01", "to": "2025-11-02"}
    # Reports without an ID or user-agent dimension read the network totals, in any zone.
    assert table(**span, group_by="day") == "stats_rollup_totals"
    assert table(**span, group_by="hour", tz="Asia/Kathmandu") == "stats_rollup_totals"
    assert table(**span, group_by="day", tz="Asia/Kolkata") == "stats_rollup_totals"
    assert table(**span, group_by="day,affiliate") == "stats_rollup_daily_links"
    assert table(**span, group_by="day,country") == "stats_rollup_daily_offer_country"
    assert table(**span, group_by="offer,country") == "stats_rollup_daily_offer_country"
    assert table(**span, group_by="link,country") == "stats_rollup_daily"
    # By local day off UTC: whole UTC days, less (negated) the hour each holds of the next
    # local day, plus the hours before.
    assert tables(**span, group_by="day,link", tz="Europe/Berlin") == (
        "stats_rollup_daily_links",
        "stats_rollup_links_hourly",
        "stats_rollup_links_hourly",
    )
    # The hour before each day is read as itself; the 23:00 UTC hour after each day is
    # taken back out of it (the first is the next day's own, the last is past the end).
    berlin = reads(**span, group_by="day,link", tz="Europe/Berlin") or ()
    assert [(r.tier.grain_s, r.negate, len(r.ranges)) for r in berlin] == [
        (86400, False, 1),
        (3600, False, 2),
        (3600, True, 2),
    ]
    assert table(**span, group_by="hour,country", tz="America/New_York") == "stats_rollup_hourly"
    assert table(**span, group_by="hour,offer", tz="Asia/Kathmandu") == "stats_rollup_links"
    assert table(**span, group_by="device") == "stats_rollup"
    assert table(**span, group_by="browser") == "stats_rollup"
    assert table(**span, group_by="affiliate", country="DE") == "stats_rollup_daily"
    assert table(**span, group_by="link,offer") == "stats_rollup_daily_links"
    assert table(**span, group_by="sub1") is None
    assert table(**span, source="fb") is None
    assert table(**{"from": "2025-11-01T00:07:00Z", "to": "2025-11-02"}) is None
    # Half-hour zones: UTC days in the middle, hours and quarter hours at the edges...
    assert tables(**span, group_by="affiliate", tz="Asia/Kolkata") == (
        "stats_rollup_daily_links",
        "stats_rollup_links_hourly",
        "stats_rollup_links",
    )
    # ...and by local day, UTC days less their last 5.5 hours, plus those of the day before.
    kolkata = reads(**span, group_by="day,offer", tz="Asia/Kolkata") or ()
    assert [(r.tier.table, r.negate) for r in kolkata] == [
        ("stats_rollup_daily_links", False),
        ("stats_rollup_links_hourly", False),
        ("stats_rollup_links", False),
        ("stats_rollup_links_hourly", True),
        ("stats_rollup_links", True),
    ]
    assert tables(**span, group_by="day,device", tz="Asia/Kolkata") == ("stats_rollup",)


async def test_clicks_stored_without_a_currency_count_in_their_offers(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    # Clicks stored before migration 0002 have no currency; raw reports take the offer's.
    params = {"from": "2025-11-01", "to": "2025-11-02", "group_by": "sub1,offer"}
    before = await client.get("/api/v1/stats", params=params, headers=admin)
    assert before.status_code == 200
    changed = await pool.execute("UPDATE clicks SET currency = NULL WHERE sub1 IS NOT NULL")
    assert changed != "UPDATE 0"
    after = await client.get("/api/v1/stats", params=params, headers=admin)
    assert after.json() == before.json()
    assert {r["currency"] for r in after.json()["rows"]} == {"USD", "EUR"}


async def test_a_group_that_cancels_out_is_not_reported(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    # Berlin's 2025-11-01 ends at 23:00 UTC. A click at 23:30 UTC is in the UTC day read
    # whole for it and in the hour taken back out: its link must not show up as a zero row.
    link = catalog["bob_link"]
    at = datetime(2025, 11, 1, 23, 30, tzinfo=UTC)
    assert await factory.store_clicks(pool, [factory.click(link, at, currency="USD")]) == 1
    params = {"from": "2025-11-01", "to": "2025-11-01", "tz": "Europe/Berlin"}
    plan, _ = stats_service.plan(
        {**{k: [v] for k, v in params.items()}, "group_by": ["day,link"]}, Principal(role="admin")
    )
    assert plan.reads is not None
    assert any(r.negate for r in plan.reads)
    body = (
        await client.get("/api/v1/stats", params={**params, "group_by": "day,link"}, headers=admin)
    ).json()
    assert body["rows"] == []
    assert body["totals"]["clicks"] == 0
    next_day = (
        await client.get(
            "/api/v1/stats",
            params={**params, "from": "2025-11-02", "to": "2025-11-02", "group_by": "day,link"},
            headers=admin,
        )
    ).json()
    assert [(r["day"], r["link"], r["clicks"]) for r in next_day["rows"]] == [
        ("2025-11-02", link["id"], 1)
    ]


async def test_random_ranges_zones_and_groupings_match_the_raw_rows(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    # The planner mixes tiers, grains and negated reads by range, zone and grouping; random
    # quarter-hour ranges over the data set (a DST change included) check every mix.
    rng = random.Random(66)
    zones = [*ZONES, "America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham"]
    groupings = [[], ["day"], ["hour"], ["day", "link"], ["day", "offer", "country"],
                 ["affiliate"], ["hour", "offer"], ["country"]]  # fmt: skip
    first = datetime(2025, 10, 31, 12, 0, tzinfo=UTC)
    for _ in range(120):
        start = first + timedelta(minutes=15 * rng.randrange(4 * 48))
        end = start + timedelta(minutes=15 * rng.randrange(8, 4 * 48))
        tz, group_by = rng.choice(zones), rng.choice(groupings)
        params = {"from": start.isoformat(), "to": end.isoformat(), "tz": tz}
        if group_by:
            params["group_by"] = ",".join(group_by)
        await check(
            client, pool, admin, params=params, start=start, end=end, tz=tz, group_by=group_by
        )


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "Europe/Berlin"])
async def test_an_affiliates_day_report_counts_only_its_own_traffic(
    client: httpx.AsyncClient, dataset: dict[str, Any], pool: Pool, tz: str
) -> None:
    # The network-totals tier has no affiliate column: an affiliate's report never reads it.
    alice = dataset["alice"]["id"]
    params = {"from": "2025-11-01", "to": "2025-11-02", "tz": tz, "group_by": "day"}
    plan, _ = stats_service.plan(
        {k: [v] for k, v in params.items()}, Principal(role="affiliate", affiliate_id=alice)
    )
    assert plan.reads is not None
    assert "stats_rollup_totals" not in {r.tier.table for r in plan.reads}
    start, end = factory.day_range(FIRST_DAY, LAST_DAY, tz)
    await check(
        client,
        pool,
        dataset["alice_headers"],
        params=params,
        start=start,
        end=end,
        tz=tz,
        group_by=["day"],
        filters={"affiliate": [alice]},
        admin=False,
    )


async def test_a_sub1_too_long_for_an_index_row_is_stored_and_reported(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    # 1,024 three-byte characters are 3 kB, past btree's 2.7 kB row limit: such clicks sit
    # in the affiliate's second index, and reports read both.
    wide = "".join(chr(0x4E00 + i) for i in range(1024))
    at = datetime(2025, 11, 1, 12, 0, tzinfo=UTC)
    link = catalog["alice_link"]
    clicks = [factory.click(link, at, currency="USD", sub1=wide) for _ in range(2)]
    clicks.append(factory.click(link, at, currency="USD", sub1="short"))
    assert await factory.store_clicks(pool, clicks) == 3
    response = await client.get(
        "/api/v1/stats",
        params={
            "from": "2025-11-01",
            "to": "2025-11-01",
            "group_by": "sub1",
            "affiliate": str(catalog["alice"]["id"]),
            "sort": "-clicks",
            "limit": "5",
        },
        headers=admin,
    )
    assert response.status_code == 200, response.text
    assert [(r["sub1"], r["clicks"]) for r in response.json()["rows"]] == [
        (wide, 2),
        ("short", 1),
    ]


async def test_a_rollup_row_of_zeros_is_no_group(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    link = catalog["bob_link"]
    await pool.execute(
        """INSERT INTO stats_rollup (bucket, affiliate_id, offer_id, link_id, currency)
           VALUES ('2025-11-01 12:00+00', $1, $2, $3, 'USD')""",
        link["affiliate_id"],
        link["offer_id"],
        link["id"],
    )
    for group_by in ("link", "day,link", "country"):
        body = (
            await client.get(
                "/api/v1/stats",
                params={"from": "2025-11-01", "to": "2025-11-01", "group_by": group_by},
                headers=admin,
            )
        ).json()
        assert body["rows"] == [], group_by


async def test_cet_keeps_its_summer_time(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    # PostgreSQL reads 'CET' as the fixed abbreviation (+01:00); the IANA zone has summer
    # time. 22:30 UTC on 1 July is 00:30 on 2 July in CET's summer, 23:30 on 1 July without.
    at = datetime(2025, 7, 1, 22, 30, tzinfo=UTC)
    clicks = [factory.click(catalog["alice_link"], at, currency="USD")]
    assert await factory.store_clicks(pool, clicks) == 1
    for group_by in ("day", "day,link", "hour,affiliate"):
        params = {"from": "2025-07-01", "to": "2025-07-02", "tz": "CET", "group_by": group_by}
        body = (await client.get("/api/v1/stats", params=params, headers=admin)).json()
        [row] = body["rows"]
        assert row.get("day", "2025-07-02") == "2025-07-02", group_by
        assert row.get("hour", "2025-07-02T00:00:00+02:00") == "2025-07-02T00:00:00+02:00"
