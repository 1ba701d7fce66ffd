"""The reports as the routes call them: check a request, run its SQL read-only, and shape
the rows: cohorts by age with sizes and per-customer values, funnels step by step."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.db import Pool
from app.errors import NotFound
from app.keys.service import Principal
from app.money import format_money
from app.reports import cohort_axes, cohort_rollup, queries
from app.reports import funnel as funnel_queries
from app.reports.request import MONEY, CohortRequest, parse_cohorts, parse_funnel
from app.stats.queries import STATEMENT_SETTINGS
from app.stats.zones import period_start

_PER_CUSTOMER = Decimal("0.0001")


def _group_value(name: str | None, value: Any) -> Any:
    if name in ("affiliate", "offer", "link"):
        return value
    return value or None  # "none": a customer bound without that sub-ID or country


def _cohort_body(asked: CohortRequest, records: list[Any]) -> dict[str, Any]:
    zone, metric, group = asked.range.zone, asked.metric, asked.group_by
    cohorts: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    cumulative: dict[tuple[Any, ...], Any] = {}
    for r in records:
        label = period_start(asked.bounds[r["cohort"] - 1].astimezone(zone).date(), asked.period)
        key: dict[str, Any] = {"cohort": label.isoformat()}
        if group:
            key[group] = _group_value(group, r["g"])
        if not cohorts or cohorts[-1] != {**key, "customers": r["size"]}:
            cohorts.append({**key, "customers": r["size"]})
        if r["age"] is None:
            continue
        value = r["value"]
        row: dict[str, Any] = {**key, "age": r["age"], "currency": r["currency"]}
        if metric == "customers":
            row.update(value=value, cumulative=None, per_customer=None)
        else:
            running = cumulative.get((r["cohort"], r["g"], r["currency"]), 0) + value
            cumulative[(r["cohort"], r["g"], r["currency"])] = running
            per = (Decimal(running) / r["size"]).quantize(_PER_CUSTOMER, ROUND_HALF_UP)
            money = metric in MONEY
            row.update(
                value=format_money(value) if money else value,
                cumulative=format_money(running) if money else running,
                per_customer=format_money(per),
            )
        rows.append(row)
    return {
        "period": asked.period,
        "tz": zone.key,
        "metric": metric,
        "from": asked.range.start.isoformat(),
        "to": asked.range.end.isoformat(),
        "cohorts": cohorts,
        "rows": rows,
    }


def _cohorts_sql(
    asked: CohortRequest, bounds: list[Any], principal: Principal
) -> tuple[str, list[Any]]:
    """The cohort rollup's read where it keeps what is asked (an admin's money or
    conversions, ungrouped, unfiltered), else the raw rows'."""
    rolled_up = asked.metric != "customers" and not asked.group_by and not asked.filters
    if rolled_up and principal.only_affiliate_id is None:
        try:
            return cohort_rollup.sql(bounds, asked.metric)
        except cohort_axes.NotAligned:
            pass
    return queries.cohorts(
        bounds=bounds,
        start=asked.range.start,
        end=asked.range.end,
        metric=asked.metric,
        group_by=asked.group_by,
        filters=asked.filters,
        conversions_of=principal.only_affiliate_id,
    )


async def cohorts(
    pool: Pool, params: Mapping[str, list[str]], principal: Principal
) -> dict[str, Any]:
    asked = parse_cohorts(params, principal)
    bounds = [*asked.bounds, asked.range.end]
    sql, args = _cohorts_sql(asked, bounds, principal)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(STATEMENT_SETTINGS)
        # Planned for its own range and pieces each time: the generic plan of the prepared
        # statement, blind to the arrays' sizes, was 7-10 times slower on 5M conversions.
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        records = await conn.fetch(sql, *args)
    return _cohort_body(asked, records)


def _rate(count: int, previous: int | None) -> str | None:
    if not previous:
        return None
    return format_money((Decimal(count) * 100 / previous).quantize(Decimal("0.01"), ROUND_HALF_UP))


def _steps(counts: dict[str, int], goals: list[str]) -> list[dict[str, Any]]:
    names = [
        ("clicks", None),
        ("unique_clicks", None),
        *(("goal", g) for g in goals),
        ("first_purchases", None),
        ("repeat_purchases", None),
    ]
    steps: list[dict[str, Any]] = []
    previous: int | None = None
    for step, goal in names:
        count = counts.get(f"goal:{goal}" if goal is not None else step, 0)
        item: dict[str, Any] = {"step": step, "count": count, "rate": _rate(count, previous)}
        if goal is not None:
            item = {"step": step, "goal": goal, "count": count, "rate": item["rate"]}
        steps.append(item)
        previous = count
    return steps


async def funnel(
    pool: Pool, params: Mapping[str, list[str]], principal: Principal
) -> dict[str, Any]:
    asked = parse_funnel(params, principal)
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(STATEMENT_SETTINGS)
        offer = await conn.fetchrow(funnel_queries.OFFER, asked.offer_id)
        if offer is None:
            raise NotFound(f"no offer {asked.offer_id}")
        goals = [offer["main_goal"], *offer["goals"]]
        groups = await funnel_queries.counts(conn, asked, goals)
    group = asked.group_by
    total: dict[str, int] = {}
    rows = []
    for value, counts in sorted(groups.items(), key=lambda kv: (kv[0] == "", kv[0])):
        for name, count in counts.items():
            total[name] = total.get(name, 0) + count
        rows.append({group: _group_value(group, value), "steps": _steps(counts, goals)})
    return {
        "offer": asked.offer_id,
        "tz": asked.range.zone.key,
        "from": asked.range.start.isoformat(),
        "to": asked.range.end.isoformat(),
        "goals": goals,
        "rows": rows if group else [],
        "totals": {"steps": _steps(total, goals)},
    }
