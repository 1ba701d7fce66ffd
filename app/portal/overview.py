"""The overview's numbers: four periods (today, yesterday, last 7 days, month to date),
each against the period before it, and a daily chart; all from the stats service, asked
as the API would be (same parsing, same scoping, same metrics)."""

from __future__ import annotations

import asyncio
import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.db import Pool
from app.keys.service import Principal
from app.rollups import registry
from app.stats import service as stats_service
from app.stats.vocabulary import SUB_DIMENSIONS

COUNT_METRICS = ("clicks", "conversions")
MONEY_METRICS = ("revenue", "payout", "profit")
RATE_METRICS = ("cr", "epc")
CHART_DAYS = 30
# The stats pages' tables show this many rows, the report's first by its sort (asked of
# the service with one more, to tell that there are others); the CSV has them all.
SHOWN_ROWS = 1000


# A table by one sub-ID (or source) shows its top TOP_SUBIDS values by clicks unless the
# view sorts or limits it, where the sub-ID tier answers that exactly without reading the
# raw clicks (app/stats/subids.py: one affiliate's, or all of them): such values are
# nearly one per click (an alphabetical first thousand of 100,000 says little). Over a
# manager's several affiliates the tier cannot, and the raw top by clicks groups every
# click of them (4x the alphabetical first rows, whose grouping stops at the limit), so
# that table keeps the report's own order.
TOP_SUBIDS = 100


def top_subids(params: dict[str, list[str]], among: Sequence[int] | None = None) -> bool:
    """Whether a table of these parameters lists the top sub-IDs by clicks (TOP_SUBIDS);
    `among`: the only affiliates counted (a manager's), as for stats_service.plan."""
    group_by = ",".join(params.get("group_by", [])).split(",")
    asked = ",".join(params.get("affiliate", [])).split(",") if "affiliate" in params else []
    tier_answers = among is None or len(among) == 1 or len(asked) == 1
    return (
        "limit" not in params
        and "sort" not in params
        and len(group_by) == 1
        and group_by[0] in SUB_DIMENSIONS
        and tier_answers
    )


def shown_rows(params: dict[str, list[str]], among: Sequence[int] | None = None) -> int:
    """How many rows a table of these parameters shows."""
    return TOP_SUBIDS if top_subids(params, among) else SHOWN_ROWS


def first_rows(
    params: dict[str, list[str]], among: Sequence[int] | None = None
) -> dict[str, list[str]]:
    """A report's parameters as a table asks for them: its own limit, else one more than it
    shows (to tell that there are others), by clicks for the top sub-IDs; the totals are
    over every row either way."""
    if top_subids(params, among):
        return {**params, "sort": ["-clicks"], "limit": [str(TOP_SUBIDS + 1)]}
    return params if "limit" in params else {**params, "limit": [str(SHOWN_ROWS + 1)]}


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


# The stats screen's date presets (each compared, when asked, with the period before it).
PRESETS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "mtd": "Month to date",
    "last_month": "Last month",
    "custom": "Custom",
}


def preset(key: str, today: date, first: date | None = None, last: date | None = None) -> Period:
    """The days a preset names (`custom`: first to last) and the period before them: as
    long, just before; a month to date the same days of last month; last month the one
    before it."""
    if key == "custom":
        if first is None or last is None or first > last:
            raise ValueError("a custom range needs its first day on or before its last")
        return _rolling("custom", "Custom", last, (last - first).days + 1)
    if key == "30d":
        return _rolling("30d", PRESETS["30d"], today, 30)
    if key == "last_month":
        end = today.replace(day=1) - timedelta(days=1)
        before_end = end.replace(day=1) - timedelta(days=1)
        return Period(
            "last_month", PRESETS["last_month"], end.replace(day=1), end,
            before_end.replace(day=1), before_end,
        )  # fmt: skip
    spans = {p.key: p for p in periods(today)}
    if key not in spans:
        raise ValueError(f"unknown preset {key!r}")
    return spans[key]


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


def _params(first: date, last: date, zone: str, group_by: str | None) -> dict[str, list[str]]:
    params = {"from": [first.isoformat()], "to": [last.isoformat()], "tz": [zone]}
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
    # The affiliates as the service's `among`: a manager's may be more than a filter lists.
    params = _params(first, last, zone, group_by)
    plan, _ = stats_service.plan(params, principal, among=affiliates)
    return await stats_service.report_json(pool, plan)


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def tiles(
    current: dict[str, Any], previous: dict[str, Any], hidden: set[str]
) -> list[dict[str, Any]]:
    tiles: list[dict[str, Any]] = []
    now, before = current["totals"], previous["totals"]
    for metric in COUNT_METRICS:
        value = now.get(metric) or 0
        counted = [{"count": value, "raw": str(value)}]
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


# The reasons a click goes to the offer's fallback (clicks.diverted), as a person reads them
# (short enough for the table to fit 390 px; the link's or the offer's archiving).
DIVERTED_LABELS = {
    "cap": "Cap reached",
    "paused": "Offer paused",
    "archived": "Archived",
    "affiliate_inactive": "Affiliate inactive",
    "targeting_country": "Targeting: country",
    "targeting_device": "Targeting: device",
}
REASON_METRICS = frozenset(f"diverted_{reason}" for reason in registry.DIVERTED_REASONS)


def diverted_by_reason(totals: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A report's diverted clicks, one row per reason (the stats API's `diverted_<reason>`
    totals), each with its share of the clicks in percent; none when nothing was diverted."""
    if not totals.get("diverted"):
        return []
    clicks = totals.get("clicks") or 0
    rows = []
    for reason in registry.DIVERTED_REASONS:
        count = int(totals.get(f"diverted_{reason}") or 0)
        share = (Decimal(count) * 100 / clicks).quantize(Decimal("0.01")) if clicks else None
        rows.append(
            {"reason": reason, "label": DIVERTED_LABELS[reason], "clicks": count, "share": share}
        )
    return rows


def hidden_of(principal: Principal) -> set[str]:
    """The money an affiliate never sees (the stats API hides it from its key too)."""
    return set() if principal.is_admin else {"revenue", "profit"}


def day_labels(first: date, days: int) -> list[str]:
    return [(first + timedelta(days=i)).isoformat() for i in range(days)]


def chart(
    report: dict[str, Any], labels: list[str], hidden: set[str], *, key: str = "day"
) -> dict[str, Any]:
    """A report by `key` (day or hour) as the chart draws it: a series per count and
    money metric over `labels`, zero where no row is; money in the first currency only."""
    index = {label: i for i, label in enumerate(labels)}
    currencies = sorted({r["currency"] for r in report["rows"] if r.get("currency")})
    currency = currencies[0] if currencies else None
    series: dict[str, list[float]] = {m: [0.0] * len(labels) for m in COUNT_METRICS}
    for m in MONEY_METRICS:
        if m not in hidden:
            series[m] = [0.0] * len(labels)
    for row in report["rows"]:
        i = index.get(row[key])
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
    return {"days": labels, "series": series, "currency": currency}


async def overview(
    pool: Pool, principal: Principal, *, zone: str, affiliates: Sequence[int] | None
) -> dict[str, Any]:
    """`affiliates`: the ones a manager is limited to (None: all the principal may see)."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    hidden = hidden_of(principal)
    spans = periods(today)
    asks = [(p.first, p.last) for p in spans] + [(p.previous_first, p.previous_last) for p in spans]
    chart_first = today - timedelta(days=CHART_DAYS - 1)
    results = await asyncio.gather(
        *(_report(pool, principal, a, b, zone, affiliates) for a, b in asks),
        _report(pool, principal, chart_first, today, zone, affiliates, group_by="day"),
    )
    current, previous, chart_report = (
        results[: len(spans)],
        results[len(spans) : -1],
        results[-1],
    )
    return {
        "today": today,
        "periods": [
            {"period": p, "tiles": tiles(c, b, hidden)}
            for p, c, b in zip(spans, current, previous, strict=True)
        ],
        "chart": chart(chart_report, day_labels(chart_first, CHART_DAYS), hidden),
    }


async def last_days(
    pool: Pool, principal: Principal, *, zone: str, affiliate_id: int, days: int = CHART_DAYS
) -> dict[str, Any]:
    """One affiliate's totals over the last `days` days (today included), as the stats
    API reports them: `totals` and `totals_by_currency`."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    span = _rolling("last", f"Last {days} days", today, days)
    report = await _report(pool, principal, span.first, span.last, zone, [affiliate_id])
    return {"span": span, "totals": report["totals"], "by_currency": report["totals_by_currency"]}
