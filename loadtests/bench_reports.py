"""p50/p95 of the cohort and funnel reports over data sets made by loadtests/load_reports.py
(customers and conversions over a year) and loadtests/load_stats.py (clicks for the funnel).

    .venv/bin/python -m loadtests.bench_reports \
        --dsn postgresql://postgres@127.0.0.1:5432/tracker_bench_reports \
        --funnel-dsn postgresql://postgres@127.0.0.1:5432/tracker_bench_funnel

Each report runs through the service layer the endpoint uses (parsing, SQL, shaping of
every row, JSON encoding) on an admin key; HTTP framing is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import orjson

from app import db
from app.keys.service import Principal
from app.reports import queries, service
from app.reports.request import parse_cohorts
from app.stats.queries import STATEMENT_SETTINGS

ADMIN = Principal(role="admin")
ZONES = ("Asia/Kolkata", "America/New_York", "Asia/Kathmandu")


async def _measure(
    name: str, run: Callable[[], Awaitable[dict[str, Any]]], runs: int, budget_s: float = 60
) -> None:
    """p50/p95 over `runs` runs after a warm-up, fewer (at least 5) for a report so slow
    that they would take more than `budget_s`."""
    started = time.perf_counter()
    try:
        await run()  # warm the cache and the plan
    except asyncpg.QueryCanceledError:
        print(f"| {name} | - | 1 | over the statement timeout | - | {os.getloadavg()[0]:.1f} |")
        return
    first = time.perf_counter() - started
    runs = max(min(5, runs), min(runs, int(budget_s / max(first, 1e-3))))
    times = []
    rows = 0
    for _ in range(runs):
        started = time.perf_counter()
        body = await run()
        orjson.dumps(body)
        times.append((time.perf_counter() - started) * 1000)
        rows = len(body["rows"])
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(
        f"| {name} | {rows} | {runs} | {statistics.median(times):.1f} | {p95:.1f} |"
        f" {os.getloadavg()[0]:.1f} |",
        flush=True,
    )


def _case(period: str, metric: str, tz: str = "UTC", **more: str) -> tuple[str, dict[str, Any]]:
    params = {"period": [period], "metric": [metric], "tz": [tz]}
    params.update({k: [v] for k, v in more.items()})
    extra = "".join(f", {k} {v}" for k, v in more.items())
    return f"{period}, {metric}, {tz}{extra}", params


# Words of the cases that read the raw rows (the others read the cohort rollup).
_RAW = ("customers", "group_by", "affiliate")


async def _raw(pool: asyncpg.Pool, params: dict[str, Any]) -> dict[str, Any]:
    """The report read from the raw rows, whatever the rollup keeps (for --check)."""
    asked = parse_cohorts(params, ADMIN)
    bounds = [*asked.bounds, asked.range.end]
    sql, args = queries.cohorts(
        bounds=bounds,
        start=asked.range.start,
        end=asked.range.end,
        metric=asked.metric,
        group_by=asked.group_by,
        filters=asked.filters,
        conversions_of=None,
    )
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(STATEMENT_SETTINGS)
        await conn.execute("SET LOCAL statement_timeout = 0")
        records = await conn.fetch(sql, *args)
    return service._cohort_body(asked, records)


async def _check(pool: asyncpg.Pool, name: str, params: dict[str, Any]) -> None:
    got, want = await service.cohorts(pool, params, ADMIN), await _raw(pool, params)
    same = got == want
    print(f"check {name}: {'equal' if same else 'DIFFERENT'} ({len(want['rows'])} rows)")
    if not same:
        raise SystemExit(f"the rollup's read differs from the raw rows': {name}")


async def cohorts(args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    year = {"from": [(today - timedelta(days=364)).isoformat()], "to": [today.isoformat()]}
    pool = await db.create_pool(args.dsn, min_size=1, max_size=2)
    count = await pool.fetchval("SELECT count(*) FROM customers")
    print(
        f"customers={count} conversions={await pool.fetchval('SELECT count(*) FROM conversions')}"
    )
    affiliate = await pool.fetchval(
        "SELECT affiliate_id FROM customers GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
    )
    # Ungrouped and unfiltered money and conversions read the cohort rollup; the others
    # (customers, a group, a filter, an affiliate key) the raw rows.
    cases = [
        *(_case("month", m) for m in ("revenue", "payout", "conversions")),
        *(_case("month", "revenue", z) for z in ZONES),
        *(_case("week", m, z) for m in ("revenue", "conversions") for z in ("UTC", *ZONES)),
        _case("month", "customers"),
        _case("week", "customers", "Asia/Kolkata"),
        *(_case("month", "revenue", group_by=g) for g in ("affiliate", "sub1", "source")),
        _case("month", "customers", "America/New_York", group_by="affiliate"),
        _case("month", "conversions", "Asia/Kolkata", group_by="country"),
        _case("week", "payout", group_by="sub1"),
        _case("month", "revenue", affiliate=str(affiliate)),
    ]
    if args.only_case:
        cases = [c for c in cases if args.only_case in c[0]]
    if args.rollup_only:
        cases = [c for c in cases if not any(w in c[0] for w in _RAW)]
    if args.check:
        for name, params in cases:
            if not any(w in name for w in _RAW):
                await _check(pool, name, {**year, **params})
    print("| cohorts | rows | runs | p50 ms | p95 ms | load |\n|---|---:|---:|---:|---:|---:|")
    for name, params in cases:
        await _measure(name, partial(service.cohorts, pool, {**year, **params}, ADMIN), args.runs)
    if not args.only_case and not args.rollup_only:
        key = Principal(role="affiliate", affiliate_id=affiliate)
        asked = {**year, "period": ["month"], "metric": ["payout"]}
        await _measure(
            "month, payout, UTC, the affiliate's own key",
            partial(service.cohorts, pool, asked, key),
            args.runs,
        )
    await pool.close()


async def funnels(args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    funnel_pool = await db.create_pool(args.funnel_dsn, min_size=1, max_size=2)
    clicks = await funnel_pool.fetchval("SELECT sum(clicks) FROM stats_rollup_daily")
    offer = await funnel_pool.fetchval(
        "SELECT offer_id FROM stats_rollup_daily GROUP BY 1 ORDER BY sum(clicks) DESC LIMIT 1"
    )
    print(f"funnel data: {clicks} clicks; the busiest offer {offer}")
    month = {"from": [(today - timedelta(days=29)).isoformat()], "to": [today.isoformat()]}
    for name, extra in (
        ("funnel 30 days, UTC", {}),
        ("funnel 30 days, Asia/Kolkata", {"tz": ["Asia/Kolkata"]}),
        (
            "funnel 30 days, by affiliate, Europe/Berlin",
            {"tz": ["Europe/Berlin"], "group_by": ["affiliate"]},
        ),
    ):
        asked = {**month, "offer": [str(offer)], **extra}
        await _measure(name, partial(service.funnel, funnel_pool, asked, ADMIN), args.runs)
    await funnel_pool.close()


async def main(args: argparse.Namespace) -> None:
    if args.only != "funnel":
        await cohorts(args)
    if args.only != "cohorts":
        await funnels(args)


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench_reports"
    )
    parser.add_argument(
        "--funnel-dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench_funnel"
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", choices=["cohorts", "funnel"], help="run one of the two")
    parser.add_argument("--only-case", help="only the cohort cases whose name holds this")
    parser.add_argument(
        "--rollup-only", action="store_true", help="only the cases the cohort rollup answers"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="first compare each report the cohort rollup answers with the raw rows' read",
    )
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
