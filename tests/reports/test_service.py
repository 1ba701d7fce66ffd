"""Cohorts and funnels equal a brute-force count over the raw rows, in zones with summer
time and 30- and 45-minute offsets; affiliate keys see their own customers, no revenue."""

from __future__ import annotations

import itertools
import random
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest

from app.db import Pool
from app.money import format_money
from tests.reports import brute
from tests.stats import factory

ZONES = ["UTC", "America/New_York", "Asia/Kathmandu", "Asia/Kolkata", "Europe/Berlin"]
FIRST, LAST = "2025-10-31", "2025-11-03"


def _api_cohorts(body: dict[str, Any], group_by: str | None) -> tuple[dict[Any, Any], ...]:
    sizes = {(c["cohort"], c.get(group_by) if group_by else None): c["customers"]
             for c in body["cohorts"]}  # fmt: skip
    values: dict[tuple[Any, ...], Any] = {}
    for r in body["rows"]:
        key = (r["cohort"], r.get(group_by) if group_by else None, r["age"], r["currency"])
        assert key not in values, key
        values[key] = r["value"]
    return sizes, values


def _expected(values: dict[tuple[Any, ...], Any], metric: str) -> dict[tuple[Any, ...], Any]:
    money = metric in ("revenue", "payout")
    return {k: format_money(v) if money else int(v) for k, v in values.items()}


@pytest.mark.parametrize("tz", ZONES)
async def test_cohorts_match_the_raw_rows(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool, tz: str
) -> None:
    rng = random.Random(tz)
    start, end = factory.day_range(date.fromisoformat(FIRST), date.fromisoformat(LAST), tz)
    for period in ("week", "month"):
        for metric in ("revenue", "payout", "customers", "conversions"):
            group_by = rng.choice([None, "affiliate", "offer", "sub1", "source", "country"])
            params = {"from": FIRST, "to": LAST, "tz": tz, "period": period, "metric": metric}
            if group_by:
                params["group_by"] = group_by
            response = await client.get("/api/v1/reports/cohorts", params=params, headers=admin)
            assert response.status_code == 200, response.text
            body = response.json()
            sizes, values = await brute.cohorts(
                pool, start=start, end=end, tz=tz, period=period, metric=metric, group_by=group_by
            )
            assert sizes, "the data set should have cohorts"
            assert values, "and conversions of them"
            assert _api_cohorts(body, group_by) == (sizes, _expected(values, metric)), params
            # Cumulative values and values per customer follow from the cells.
            running: dict[tuple[Any, ...], Decimal] = {}
            for r in body["rows"]:
                if metric == "customers":
                    assert r["cumulative"] is None
                    assert r["per_customer"] is None
                    continue
                g = r.get(group_by) if group_by else None
                key = (r["cohort"], g, r["currency"])
                running[key] = running.get(key, Decimal(0)) + Decimal(str(r["value"]))
                assert Decimal(str(r["cumulative"])) == running[key]
                size = sizes[(r["cohort"], g)]
                per = (running[key] / size).quantize(Decimal("0.0001"), ROUND_HALF_UP)
                assert Decimal(r["per_customer"]) == per


async def test_an_affiliate_key_sees_its_own_customers_and_no_revenue(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool
) -> None:
    alice = dataset["alice"]["id"]
    headers = dataset["alice_headers"]
    tz = "Asia/Kathmandu"
    start, end = factory.day_range(date.fromisoformat(FIRST), date.fromisoformat(LAST), tz)
    for metric in ("payout", "customers"):
        params = {"from": FIRST, "to": LAST, "tz": tz, "period": "week", "metric": metric,
                  "group_by": "affiliate"}  # fmt: skip
        response = await client.get("/api/v1/reports/cohorts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        sizes, values = await brute.cohorts(
            pool, start=start, end=end, tz=tz, period="week", metric=metric,
            group_by="affiliate", affiliate=alice,
        )  # fmt: skip
        assert sizes
        assert {c["affiliate"] for c in response.json()["cohorts"]} == {alice}
        assert _api_cohorts(response.json(), "affiliate") == (sizes, _expected(values, metric))
    for params, status in (
        ({"metric": "revenue"}, 403),
        ({"metric": "payout", "affiliate": str(dataset["bob"]["id"])}, 403),
    ):
        response = await client.get("/api/v1/reports/cohorts", params=params, headers=headers)
        assert response.status_code == status, response.text
    offer = dataset["alice_link"]["offer_id"]
    response = await client.get(
        "/api/v1/reports/funnel",
        params={"offer": offer, "from": FIRST, "to": LAST, "group_by": "affiliate"},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert [r["affiliate"] for r in response.json()["rows"]] == [alice]
    assert "revenue" not in response.text


@pytest.mark.parametrize("tz", ZONES)
async def test_funnels_match_the_raw_rows(
    client: httpx.AsyncClient, admin: dict[str, str], dataset: dict[str, Any], pool: Pool, tz: str
) -> None:
    offer = dataset["alice_link"]["offer_id"]
    # Two more goals: steps come as the offer lists its goals, after the main one.
    goals = [
        {"name": name, "revenue": {"type": "fixed", "value": "1"},
         "payout": {"type": "fixed", "value": "0.5"}}
        for name in ("upsell", "lead")
    ]  # fmt: skip
    patched = await client.patch(f"/api/v1/offers/{offer}", json={"goals": goals}, headers=admin)
    assert patched.status_code == 200, patched.text
    listed = [patched.json()["main_goal"], *(g["name"] for g in patched.json()["goals"])]
    start, end = factory.day_range(date.fromisoformat(FIRST), date.fromisoformat(LAST), tz)
    for group_by in (None, "affiliate", "link", "country"):
        params = {"offer": str(offer), "from": FIRST, "to": LAST, "tz": tz}
        if group_by:
            params["group_by"] = group_by
        response = await client.get("/api/v1/reports/funnel", params=params, headers=admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["goals"] == listed
        expected = await brute.funnel(
            pool, offer=offer, start=start, end=end, goals=listed, group_by=group_by
        )
        assert expected
        names = ["clicks", "unique_clicks", *(f"goal:{g}" for g in listed),
                 "first_purchases", "repeat_purchases"]  # fmt: skip

        def counts(steps: list[dict[str, Any]]) -> list[int]:
            return [s["count"] for s in steps]

        if group_by:
            got = {(r[group_by] if r[group_by] is not None else ""): counts(r["steps"])
                   for r in body["rows"]}  # fmt: skip
            assert got == {g: [c.get(n, 0) for n in names] for g, c in expected.items()}
        total = [sum(c.get(n, 0) for c in expected.values()) for n in names]
        steps = body["totals"]["steps"]
        assert counts(steps) == total
        assert [s.get("goal") for s in steps] == [None, None, *listed, None, None]
        assert total[0] > 0, "the data set should have clicks"
        assert total[2] > 0, "and conversions"
        for previous, step in itertools.pairwise(steps):
            rate = step["rate"]
            if previous["count"] == 0:
                assert rate is None
            else:
                exact = Decimal(step["count"]) * 100 / previous["count"]
                assert abs(Decimal(rate) - exact) <= Decimal("0.005")


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("cohorts", {"metric": "profit"}, "unknown_metric"),
        ("cohorts", {"group_by": "device"}, "unknown_dimension"),
        ("cohorts", {"group_by": "affiliate,offer"}, "unknown_dimension"),
        ("cohorts", {"period": "day"}, "invalid_period"),
        ("cohorts", {"from": "2025-11-03", "to": "2025-11-01"}, "invalid_range"),
        ("cohorts", {"from": "2024-01-01", "to": "2025-11-01"}, "range_too_long"),
        ("cohorts", {"tz": "Mars/Olympus_Mons"}, "unknown_time_zone"),
        ("cohorts", {"browser": "Chrome"}, "unknown_parameter"),
        ("cohorts", {"affiliate": "x"}, "invalid_filter"),
        ("funnel", {}, "invalid_request"),  # a required parameter
        ("funnel", {"offer": "abc"}, "invalid_request"),
        ("funnel", {"offer": "1", "group_by": "sub1"}, "unknown_dimension"),
        ("funnel", {"offer": "1", "from": "2025-11-03", "to": "2025-11-01"}, "invalid_range"),
        ("funnel", {"offer": "1", "tz": "UTC+5"}, "unknown_time_zone"),
        ("funnel", {"offer": "1", "metric": "revenue"}, "unknown_parameter"),
    ],
)
async def test_bad_input_is_a_400(
    client: httpx.AsyncClient, admin: dict[str, str], path: str, params: dict[str, str], code: str
) -> None:
    response = await client.get(f"/api/v1/reports/{path}", params=params, headers=admin)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


async def test_an_unknown_offer_is_a_404(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool
) -> None:
    response = await client.get("/api/v1/reports/funnel", params={"offer": "999999"}, headers=admin)
    assert response.status_code == 404, response.text
