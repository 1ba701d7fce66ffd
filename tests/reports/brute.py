"""The brute-force count of the reports over the raw clicks, conversions and customers."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from app.db import Pool
from app.stats.zones import period_start


def _period(ts: datetime, zone: ZoneInfo, period: str) -> date:
    return period_start(ts.astimezone(zone).date(), "week" if period == "week" else "month")


def _age(cohort: date, at: date, period: str) -> int:
    if period == "week":
        return (at - cohort).days // 7
    return (at.year - cohort.year) * 12 + at.month - cohort.month


def _binding(customer: Any, name: str) -> Any:
    if name in ("affiliate", "offer", "link"):
        return customer[f"{name}_id"]
    value = customer[name]
    return value.strip() if isinstance(value, str) and value.strip() else None


async def cohorts(
    pool: Pool,
    *,
    start: datetime,
    end: datetime,
    tz: str,
    period: str,
    metric: str,
    group_by: str | None,
    filters: dict[str, list[Any]] | None = None,
    affiliate: int | None = None,
) -> tuple[dict[tuple[Any, ...], int], dict[tuple[Any, ...], Any]]:
    """(cohort, group) -> size, and (cohort, group, age, currency) -> value."""
    zone = ZoneInfo(tz)
    conversions = {r["id"]: r for r in await pool.fetch("SELECT * FROM conversions")}
    sizes: dict[tuple[Any, ...], int] = defaultdict(int)
    members: dict[int, tuple[date, Any]] = {}
    for c in await pool.fetch("SELECT * FROM customers"):
        first = conversions[c["first_conversion_id"]]["created_at"]
        if not start <= first < end:
            continue
        if affiliate is not None and c["affiliate_id"] != affiliate:
            continue
        if any((_binding(c, n) or "") not in v for n, v in (filters or {}).items()):
            continue
        group = _binding(c, group_by) if group_by else None
        cohort = _period(first, zone, period)
        sizes[(cohort.isoformat(), group)] += 1
        members[c["id"]] = (cohort, group)
    values: dict[tuple[Any, ...], Any] = defaultdict(Decimal)
    active: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    for v in conversions.values():
        if v["customer_id"] not in members or v["status"] != "approved":
            continue
        if not start <= v["created_at"] < end:
            continue
        if affiliate is not None and v["affiliate_id"] != affiliate:
            continue
        cohort, group = members[v["customer_id"]]
        age = _age(cohort, _period(v["created_at"], zone, period), period)
        currency = v["currency"] if metric in ("revenue", "payout") else None
        key = (cohort.isoformat(), group, age, currency)
        if metric in ("revenue", "payout"):
            values[key] += v[metric]
        elif metric == "conversions":
            values[key] += 1
        else:
            active[key].add(v["customer_id"])
    if metric == "customers":
        return dict(sizes), {k: len(s) for k, s in active.items()}
    return dict(sizes), dict(values)


async def funnel(
    pool: Pool,
    *,
    offer: int,
    start: datetime,
    end: datetime,
    goals: list[str],
    group_by: str | None,
    affiliate: int | None = None,
) -> dict[Any, dict[str, int]]:
    """Group value -> step -> count, from the raw clicks and approved conversions."""
    out: dict[Any, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    columns = {"affiliate": "affiliate_id", "link": "link_id", "country": "country"}

    def group(row: Any) -> Any:
        if group_by is None:
            return None
        value = row[columns[group_by]]
        return value if value is not None else ""

    for k in await pool.fetch(
        "SELECT * FROM clicks WHERE offer_id = $1 AND clicked_at >= $2 AND clicked_at < $3",
        offer,
        start,
        end,
    ):
        if affiliate is not None and k["affiliate_id"] != affiliate:
            continue
        if not k["is_bot"]:
            out[group(k)]["clicks"] += 1
            out[group(k)]["unique_clicks"] += k["is_unique"]
    for v in await pool.fetch(
        "SELECT * FROM conversions WHERE offer_id = $1 AND created_at >= $2 AND created_at < $3"
        " AND status = 'approved'",
        offer,
        start,
        end,
    ):
        if affiliate is not None and v["affiliate_id"] != affiliate:
            continue
        counts = out[group(v)]
        if v["goal"] in goals:
            counts[f"goal:{v['goal']}"] += 1
        if v["customer_id"] is not None:
            counts["repeat_purchases" if v["recurring"] else "first_purchases"] += 1
    return {g: dict(c) for g, c in out.items()}
