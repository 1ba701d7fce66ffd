"""The overview's numbers: four periods (today, yesterday, last 7 days, month to date),
each against the period before it, and a daily chart; all from the stats service, asked
as the API would be (same parsing, same scoping, same metrics)."""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.db import Pool
from app.keys.service import Principal
from app.stats import service as stats_service

COUNT_METRICS = ("clicks", "conversions")
MONEY_METRICS = ("revenue", "payout", "profit")
RATE_METRICS = ("cr", "epc")
CHART_DAYS = 30


@dataclass(frozen=True, slots=True)
class Period:
    key: str
    label: str
    first: date
    last: date
    previous_first: date
    previous_last: date


def _rolling(key: str, label: str, last: date, days: int) -> Period:
    """`days` days ending on `last`, against the as many days just before them."""
    first = last - timedelta(days=days - 1)
    return Period(key, label, first, last, first - timedelta(days=days), first - timedelta(days=1))


def periods(today: date) -> list[Period]:
    month_start = today.replace(day=1)
    last_month_end = month_start - timedelta(days=1)
    last_month_start = last_month_end.replace(day=1)
    same_day = min(today.day, calendar.monthrange(last_month_end.year, last_month_end.month)[1])
    return [
        _rolling("today", "Today", today, 1),
        _rolling("yesterday", "Yesterday", today - timedelta(days=1), 1),
        _rolling("7d", "Last 7 days", today, 7),
        # The month so far, against the same days of the month before.
        Period(
            "mtd",
            "Month to date",
            month_start,
            today,
            last_month_start,
            last_month_start.replace(day=same_day),
        ),
    ]


def change(current: Decimal | None, previous: Decimal | None) -> Decimal | None:
    """The change in percent, one decimal; None where there is nothing to compare with."""
    if current is None or previous is None or previous == 0:
        return None
    return ((current - previous) * 100 / previous).quantize(Decimal("0.1"))


def _tile(
    metric: str, values: list[dict[str, Any]], now: Decimal | None, then: Decimal | None
) -> dict[str, Any]:
    # Without a percentage: "new" where there was nothing before, "no change" for zero twice.
    return {
        "metric": metric,
        "values": values,
        "change": change(now, then),
        "new": not then and bool(now),
        "same": not then and not now,
    }


def _params(
    first: date, last: date, zone: str, affiliates: Sequence[int] | None, group_by: str | None
) -> dict[str, list[str]]:
    params = {"from": [first.isoformat()], "to": [last.isoformat()], "tz": [zone]}
    if affiliates is not None:
        params["affiliate"] = [",".join(str(a) for a in affiliates)]
    if group_by:
        params["group_by"] = [group_by]
    return params


async def _report(
    pool: Pool,
    principal: Principal,
    first: date,
    last: date,
    zone: str,
    affiliates: Sequence[int] | None,
    group_by: str | None = None,
) -> dict[str, Any]:
    plan, _ = stats_service.plan(_params(first, last, zone, affiliates, group_by), principal)
    return await stats_service.report_json(pool, plan)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _tiles(
    current: dict[str, Any], previous: dict[str, Any], hidden: set[str]
) -> list[dict[str, Any]]:
    tiles: list[dict[str, Any]] = []
    now, before = current["totals"], previous["totals"]
    for metric in COUNT_METRICS:
        value = now.get(metric) or 0
        counted = [{"text": f"{value:,}", "raw": str(value)}]
        tiles.append(_tile(metric, counted, Decimal(value), Decimal(before.get(metric) or 0)))
    before_by_currency = {r["currency"]: r for r in previous["totals_by_currency"]}
    for metric in (*MONEY_METRICS, *RATE_METRICS):
        if metric in hidden:
            continue
        values: list[dict[str, Any]] = []
        compared: tuple[Decimal | None, Decimal | None] | None = None
        rows = current["totals_by_currency"] or [{"currency": None, metric: None}]
        for row in rows:
            # Money per currency (it adds up within one only); CR is one rate overall.
            raw = now.get("cr") if metric == "cr" else row.get(metric)
            amount = _decimal(raw)
            unit = "%" if metric == "cr" else row["currency"]
            values.append({"amount": amount, "unit": unit, "raw": raw})
            old = before_by_currency.get(row["currency"], {})
            old_amount = _decimal(before.get("cr") if metric == "cr" else old.get(metric))
            # The change shown is the first currency's.
            compared = compared or (amount, old_amount)
            if metric == "cr":
                break
        now_amount, old_amount = compared or (None, None)
        tiles.append(_tile(metric, values, now_amount, old_amount))
    return tiles


def _chart(report: dict[str, Any], first: date, hidden: set[str]) -> dict[str, Any]:
    days = [(first + timedelta(days=i)).isoformat() for i in range(CHART_DAYS)]
    index = {d: i for i, d in enumerate(days)}
    currencies = sorted({r["currency"] for r in report["rows"] if r.get("currency")})
    currency = currencies[0] if currencies else None
    series: dict[str, list[float]] = {m: [0.0] * CHART_DAYS for m in ("clicks", "conversions")}
    for m in MONEY_METRICS:
        if m not in hidden:
            series[m] = [0.0] * CHART_DAYS
    for row in report["rows"]:
        i = index.get(row["day"])
        if i is None:
            continue
        for m in COUNT_METRICS:
            series[m][i] += row[m]
        if row.get("currency") == currency:
            for m in MONEY_METRICS:
                if m in series and row.get(m) is not None:
                    # Drawn only: the chart's axis takes floats; every figure shown as
                    # text stays a decimal string.
                    series[m][i] = float(row[m])
    return {"days": days, "series": series, "currency": currency}


async def overview(
    pool: Pool, principal: Principal, *, zone: str, affiliates: Sequence[int] | None
) -> dict[str, Any]:
    """`affiliates`: the ones a manager is limited to (None: all the principal may see)."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    hidden = set() if principal.is_admin else {"revenue", "profit"}
    spans = periods(today)
    asks = [(p.first, p.last) for p in spans] + [(p.previous_first, p.previous_last) for p in spans]
    chart_first = today - timedelta(days=CHART_DAYS - 1)
    results = await asyncio.gather(
        *(_report(pool, principal, a, b, zone, affiliates) for a, b in asks),
        _report(pool, principal, chart_first, today, zone, affiliates, group_by="day"),
    )
    current, previous, chart = results[: len(spans)], results[len(spans) : -1], results[-1]
    return {
        "today": today,
        "periods": [
            {"period": p, "tiles": _tiles(c, b, hidden)}
            for p, c, b in zip(spans, current, previous, strict=True)
        ],
        "chart": _chart(chart, chart_first, hidden),
    }
