"""GET /api/v1/stats: bad input, CSV downloads, defaults, and the real pipeline."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import worker as stream_worker
from app.db import Pool
from app.settings import Settings
from tests.helpers import assert_error, reload_links
from tests.stats import factory

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"group_by": "day,weekday"}, "unknown_dimension"),
        ({"group_by": "day,day"}, "unknown_dimension"),
        ({"group_by": "day;DROP TABLE clicks"}, "unknown_dimension"),
        ({"campaign": "7"}, "unknown_parameter"),
        ({"from": "2025-11-03", "to": "2025-11-01"}, "invalid_range"),
        ({"from": "2025-11-01T10:00:00Z", "to": "2025-11-01T10:00:00Z"}, "invalid_range"),
        ({"from": "yesterday"}, "invalid_range"),
        ({"from": "2024-01-01", "to": "2025-06-01"}, "range_too_long"),
        ({"from": "2025-01-01", "to": "2025-06-01", "group_by": "sub1"}, "range_too_long"),
        ({"tz": "Mars/Olympus_Mons"}, "unknown_time_zone"),
        ({"tz": "UTC+5"}, "unknown_time_zone"),
        ({"tz": "../../etc/passwd"}, "unknown_time_zone"),
        ({"limit": "-1"}, "invalid_limit"),
        ({"limit": "0"}, "invalid_limit"),
        ({"limit": "ten"}, "invalid_limit"),
        ({"affiliate": "1;DROP TABLE clicks"}, "invalid_filter"),
        ({"affiliate": "1 OR 1=1"}, "invalid_filter"),
        ({"country": "' OR 1=1 --"}, "invalid_filter"),
        ({"device": "x'); DELETE FROM clicks; --"}, "invalid_filter"),
        ({"hour": "24"}, "invalid_filter"),
        ({"day": "2025-13-01"}, "invalid_filter"),
        ({"sub1": "a\x00b"}, "invalid_filter"),
        ({"sort": "-clicks;SELECT 1"}, "invalid_sort"),
        ({"sort": "sub1"}, "invalid_sort"),
        ({"format": "xml"}, "invalid_request"),
    ],
)
async def test_bad_input_is_a_400_with_a_json_error(
    client: httpx.AsyncClient, admin: dict[str, str], params: dict[str, str], code: str
) -> None:
    response = await client.get("/api/v1/stats", params=params, headers=admin)
    assert_error(response, 400, code)


async def test_stats_need_a_key(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/stats"), 401)


async def test_a_sql_looking_sub_id_is_just_a_value(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    before = await pool.fetchval("SELECT count(*) FROM clicks")
    response = await client.get(
        "/api/v1/stats",
        params={"from": "2025-11-01", "to": "2025-11-02", "sub1": "' OR 1=1 --"},
        headers=admin,
    )
    assert response.status_code == 200
    assert response.json()["rows"] == []
    assert await pool.fetchval("SELECT count(*) FROM clicks") == before


async def test_csv_matches_json(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any]
) -> None:
    params = {
        "from": "2025-11-01",
        "to": "2025-11-02",
        "tz": "Asia/Kathmandu",
        "group_by": "day,affiliate,sub1",
        "sort": "-clicks",
    }
    as_json = await client.get("/api/v1/stats", params=params, headers=admin)
    as_csv = await client.get("/api/v1/stats", params={**params, "format": "csv"}, headers=admin)
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["content-disposition"].startswith("attachment;")
    lines = list(csv.reader(io.StringIO(as_csv.text)))
    rows = as_json.json()["rows"]
    assert lines[0] == list(rows[0])
    assert len(lines) == len(rows) + 1

    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        # Spreadsheet formulas are defused in CSV only.
        return "'" + text if text.startswith(("=", "+", "-", "@")) else text

    assert lines[1:] == [[cell(v) for v in row.values()] for row in rows]
    assert any(line[lines[0].index("sub1")] == "'=cmd" for line in lines[1:])


async def test_csv_for_an_affiliate_leaves_out_the_networks_money(
    client: httpx.AsyncClient, dataset: dict[str, Any]
) -> None:
    response = await client.get(
        "/api/v1/stats",
        params={"from": "2025-11-01", "to": "2025-11-02", "format": "csv", "group_by": "day"},
        headers=dataset["alice_headers"],
    )
    header = next(csv.reader(io.StringIO(response.text)))
    assert "payout" in header
    assert "revenue" not in header
    assert "profit" not in header


async def test_the_default_range_is_the_last_seven_days_including_today(
    client: httpx.AsyncClient, admin: dict[str, str], catalog: dict[str, Any], pool: Pool
) -> None:
    now = datetime.now(UTC)
    link = catalog["alice_link"]
    clicks = [
        factory.click(link, now - timedelta(days=d), currency="USD") for d in (0, 1, 6, 8, 30)
    ]
    await factory.store_clicks(pool, clicks)
    response = await client.get("/api/v1/stats", params={"group_by": "day"}, headers=admin)
    days = [r["day"] for r in response.json()["rows"]]
    assert days == sorted((now - timedelta(days=d)).date().isoformat() for d in (0, 1, 6))


async def test_clicks_and_postbacks_through_the_pipeline_are_counted_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    catalog: dict[str, Any],
    settings: Settings,
    pool: Pool,
) -> None:
    await reload_links(app)
    click_ids = []
    for i in range(6):
        response = await client.get(
            f"/c/{catalog['alice_link']['code']}",
            params={"sub1": f"kw{i % 2}"},
            headers={"User-Agent": BROWSER},
        )
        assert response.status_code == 302
        click_ids.append(response.headers["set-cookie"].split(";")[0].split("=")[1])
    await stream_worker.run(settings, burst=True)
    token = catalog["advertiser"]["postback_token"]
    postbacks = [
        {"click_id": click_ids[0], "txid": "o1", "amount": "10"},
        {"click_id": click_ids[0], "txid": "o1", "amount": "10"},  # a duplicate
        {"click_id": click_ids[1], "txid": "o2", "amount": "10", "status": "pending"},
        {"click_id": click_ids[2], "txid": "o3", "amount": "10"},
        {"click_id": click_ids[2], "txid": "o3", "amount": "10", "status": "rejected"},
    ]
    for params in postbacks:
        response = await client.get("/postback", params={**params, "token": token})
        assert response.status_code == 200, response.text
        # One at a time, so the reversal arrives after the conversion it reverses.
        await stream_worker.run(settings, burst=True)
    today = datetime.now(UTC).date().isoformat()
    response = await client.get(
        "/api/v1/stats", params={"group_by": "sub1", "from": today, "to": today}, headers=admin
    )
    rows = {r["sub1"]: r for r in response.json()["rows"]}
    assert rows["kw0"]["clicks"] == 3
    assert rows["kw0"]["conversions"] == 1
    assert rows["kw0"]["rejected_conversions"] == 1
    assert rows["kw1"]["pending_conversions"] == 1
    assert rows["kw0"]["revenue"] == "4.00"
    assert rows["kw0"]["payout"] == "2.50"
    assert rows["kw0"]["cr"] == "33.33"
    assert rows["kw0"]["epc"] == "0.8333"
    # The rollup-served report agrees with the raw-row one.
    by_day = await client.get(
        "/api/v1/stats", params={"group_by": "day", "from": today, "to": today}, headers=admin
    )
    (day,) = by_day.json()["rows"]
    assert day["clicks"] == 6
    assert (day["conversions"], day["pending_conversions"], day["rejected_conversions"]) == (
        1,
        1,
        1,
    )
    assert day["profit"] == "1.50"
