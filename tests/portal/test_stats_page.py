"""The managers' stats screen over HTTP: the stats API's numbers for the same view (the
user's zone by default, presets, filters, the period before), its CSV byte for byte, and
a manager held to their affiliates."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
from fastapi import FastAPI

from app.db import Pool
from app.portal.overview import preset
from app.stats.zones import local_start
from tests.stats import factory
from tests.support.portal import alice_sale, assign, browser, owner_and_manager, sign_in

ZONE = "Asia/Kolkata"
_CELL = re.compile(r'data-metric="(\w+)" data-value="([^"]*)"(?: data-before="([^"]*)")?')
_CHART = re.compile(r'<script type="application/json" id="chart-data">(.*?)</script>', re.S)


def table_of(page: httpx.Response, table: str) -> str:
    start = page.text.index(f'id="{table}"')
    return page.text[start : page.text.index("</table>", start)]


def cells(page: httpx.Response, table: str) -> list[tuple[str, str, str | None]]:
    """Each number cell of a table: metric, value, and the period before's if shown."""
    return [(m[1], m[2], m[3]) for m in _CELL.finditer(table_of(page, table))]


def totals(page: httpx.Response) -> dict[str, str]:
    return {metric: value for metric, value, _ in cells(page, "totals")}


def api_text(value: Any) -> str:
    return "" if value is None else str(value)


async def _data(pool: Pool, catalog: dict[str, Any]) -> None:
    """Alice: 4 clicks 2 days ago and one now with its approved conversion; Bob: 3 clicks."""
    before = datetime.now(UTC) - timedelta(days=2)
    clicks = [factory.click(catalog["alice_link"], before, currency="USD") for _ in range(4)]
    clicks += [factory.click(catalog["bob_link"], before, currency="USD") for _ in range(3)]
    assert await factory.store_clicks(pool, clicks) == 7
    await alice_sale(pool, catalog)


async def test_the_stats_page_shows_the_apis_numbers_in_the_users_zone(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _data(pool, catalog)
    await owner_and_manager(app, client, admin, pool, zone=ZONE)
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    week = preset("7d", today)
    async with browser(app) as owner:
        assert (await sign_in(owner, "owner@example.com")).status_code == 303
        page = await owner.get("/manage/stats?group_by=affiliate&group_by=&sort=-clicks")
        assert page.status_code == 200, page.text
        assert 'aria-current="page">Stats' in page.text.replace("\n", "")
        api = await client.get(
            "/api/v1/stats",
            params={
                "from": week.first.isoformat(),
                "to": week.last.isoformat(),
                "tz": ZONE,
                "group_by": "affiliate",
                "sort": "-clicks",
            },
            headers=admin,
        )
        body = api.json()
        assert body["totals"]["clicks"] == 8
        shown = totals(page)
        for metric in ("clicks", "conversions", "revenue", "payout", "profit", "cr", "epc"):
            assert shown[metric] == api_text(body["totals"][metric]), metric
        rows = table_of(page, "rows")
        assert rows.index("Alice") < rows.index("Bob")  # sorted by clicks, as asked
        assert [v for m, v, _ in cells(page, "rows") if m == "clicks"] == [
            str(r["clicks"]) for r in body["rows"]
        ]
        # The chart: a point per day of the week, the clicks adding up to the total.
        chart = orjson.loads(_CHART.search(page.text)[1])  # type: ignore[index]
        assert len(chart["days"]) == 7
        assert chart["tz"] == ZONE
        assert sum(chart["series"]["clicks"]) == 8

        # The CSV: the API's, byte for byte.
        csv = await owner.get("/manage/stats.csv?group_by=affiliate&sort=-clicks")
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        api_csv = await client.get(
            "/api/v1/stats",
            params={**dict(api.request.url.params), "format": "csv"},
            headers=admin,
        )
        assert csv.content == api_csv.content
        assert csv.headers["content-disposition"] == api_csv.headers["content-disposition"]
        assert b"Alice" in csv.content


async def test_presets_filters_columns_and_the_period_before(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _data(pool, catalog)
    await owner_and_manager(app, client, admin, pool, zone=ZONE)
    alice = catalog["alice"]["id"]
    today = datetime.now(UTC).astimezone(ZoneInfo(ZONE)).date()
    # Two clicks in the first minutes of the local today, one in yesterday's: both past.
    starts = [local_start(today, ZoneInfo(ZONE)), local_start(today - timedelta(1), ZoneInfo(ZONE))]
    early = [factory.click(catalog["alice_link"], at, currency="USD") for at in starts]
    early.append(factory.click(catalog["alice_link"], starts[0], currency="USD"))
    assert await factory.store_clicks(pool, early) == 3
    async with browser(app) as owner:
        await sign_in(owner, "owner@example.com")
        # Today, compared with yesterday; by hour on the chart; Alice only; two columns.
        page = await owner.get(
            f"/manage/stats?preset=today&compare=1&affiliate={alice}&metrics=clicks&metrics=payout"
        )
        assert page.status_code == 200, page.text

        async def api(first: date, last: date) -> dict[str, Any]:
            params = {"from": first.isoformat(), "to": last.isoformat(), "tz": ZONE}
            answer = await client.get(
                "/api/v1/stats", params={**params, "affiliate": alice}, headers=admin
            )
            assert answer.status_code == 200
            body: dict[str, Any] = answer.json()
            return body

        now, then = await api(today, today), await api(today - timedelta(1), today - timedelta(1))
        shown = cells(page, "totals")
        assert [m for m, _, _ in shown] == ["clicks", "payout"]
        assert shown[0][1:] == (str(now["totals"]["clicks"]), str(then["totals"]["clicks"]))
        assert shown[1][1] == api_text(now["totals"]["payout"])
        assert now["totals"]["clicks"] >= 2
        assert then["totals"]["clicks"] >= 1
        chart = orjson.loads(_CHART.search(page.text)[1])  # type: ignore[index]
        assert len(chart["xs"]) == len(chart["days"]) == 24  # Kolkata has no summer time
        assert sum(chart["series"]["clicks"]) == now["totals"]["clicks"]

        # Last month and a custom range: the days they name.
        last_month = preset("last_month", today)
        page = await owner.get("/manage/stats?preset=last_month")
        assert f"{last_month.first.isoformat()} to {last_month.last.isoformat()}" in page.text
        first = (today - timedelta(days=3)).isoformat()
        page = await owner.get(
            f"/manage/stats?preset=custom&from={first}&to={today}&affiliate={alice}"
        )
        custom = await api(today - timedelta(days=3), today)
        assert totals(page)["clicks"] == str(custom["totals"]["clicks"])

        # Bad views: said on the page, never a 500.
        for query, said in (
            ("preset=custom&from=yesterday&to=", "choose a day"),
            ("tz=Mars/Olympus", "not an IANA time zone"),
            ("sort=nonsense", "sort"),
            ("country=Germany", "country"),
            (f"preset=custom&from={today}&to={today - timedelta(days=1)}", "on or before"),
        ):
            bad = await owner.get(f"/manage/stats?{query}")
            assert bad.status_code == 400, query
            assert said in bad.text, query
        assert (await owner.get("/manage/stats.csv?tz=Mars/Olympus")).status_code == 400


async def test_a_manager_sees_only_their_affiliates_numbers(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    await _data(pool, catalog)
    _, mia = await owner_and_manager(app, client, admin, pool, zone=ZONE)
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        empty = await manager.get("/manage/stats")
        assert "No affiliates are assigned to you yet" in empty.text
        await assign(client, admin, alice, mia)
        page = await manager.get("/manage/stats?group_by=affiliate")
        assert page.status_code == 200
        assert "Bob" not in table_of(page, "rows")
        api = await client.get(
            "/api/v1/stats", params={"affiliate": alice, "tz": "UTC"}, headers=admin
        )
        assert totals(page)["clicks"] == str(api.json()["totals"]["clicks"]) == "5"
        csv = await manager.get("/manage/stats.csv?group_by=affiliate")
        assert b"Alice" in csv.content
        assert b"Bob" not in csv.content
        for path in (
            f"/manage/stats?affiliate={bob}",
            f"/manage/stats?affiliate={alice},{bob}",
            f"/manage/stats.csv?affiliate={bob}",
        ):
            refused = await manager.get(path)
            assert refused.status_code == 404, path
            assert "Bob" not in refused.text


async def test_a_manager_cannot_reach_another_affiliate_by_an_id_only_int_reads(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    """`+7`, `7_0`-like and other scripts' digits are IDs to int(): a manager's affiliate
    filter must not pass them on unchecked to the stats service."""
    await _data(pool, catalog)
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    await owner_and_manager(app, client, admin, pool, assigned=alice, zone=ZONE)
    arabic = str(bob).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        for asked in (f"+{bob}", f"{alice},+{bob}", arabic, f"{alice}, {arabic}"):
            for path in ("/manage/stats", "/manage/stats.csv"):
                page = await manager.get(path, params={"affiliate": asked, "group_by": "affiliate"})
                assert page.status_code in (400, 404), (path, asked, page.status_code)
                assert "Bob" not in page.text, (path, asked)


async def test_a_manager_of_more_affiliates_than_a_filter_lists_sees_their_numbers(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    """The API's filter takes at most 100 values; a manager's own affiliates are no filter
    they typed, so 101 of them still make the overview and the stats."""
    await _data(pool, catalog)
    alice = catalog["alice"]["id"]
    _, mia = await owner_and_manager(app, client, admin, pool, assigned=alice, zone=ZONE)
    await pool.execute(
        "INSERT INTO affiliates (name, manager_id)"
        " SELECT 'Extra ' || n, $1 FROM generate_series(1, 100) AS n",
        mia["key_id"],
    )
    async with browser(app) as manager:
        await sign_in(manager, "mia@example.com")
        for path in ("/manage", "/manage/stats", "/manage/stats?compare=1", "/manage/stats.csv"):
            page = await manager.get(path)
            assert page.status_code == 200, (path, page.text[:300])
        page = await manager.get("/manage/stats")
        assert totals(page)["clicks"] == "5"
        assert "Bob" not in table_of(page, "rows")
