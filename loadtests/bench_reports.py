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
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson

from app import db
from app.keys.service import Principal
from app.reports import service

ADMIN = Principal(role="admin")


async def _measure(name: str, run: Callable[[], Awaitable[dict[str, Any]]], runs: int) -> None:
    await run()  # warm the cache and the plan
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
    print(f"{name:<58} rows={rows:<6} p50={statistics.median(times):7.1f} ms  p95={p95:7.1f} ms")


async def cohorts(args: argparse.Namespace) -> None:
    today = datetime.now(UTC).date()
    year = {"from": [(today - timedelta(days=364)).isoformat()], "to": [today.isoformat()]}
    pool = await db.create_pool(args.dsn, min_size=1, max_size=2)
    count = await pool.fetchval("SELECT count(*) FROM customers")
    print(
        f"customers={count} conversions={await pool.fetchval('SELECT count(*) FROM conversions')}"
    )
    cases = [
        ("cohorts month, revenue, UTC", {"period": ["month"], "metric": ["revenue"]}),
        (
            "cohorts month, revenue, Asia/Kathmandu",
            {"period": ["month"], "metric": ["revenue"], "tz": ["Asia/Kathmandu"]},
        ),
        (
            "cohorts month, customers, by affiliate, America/New_York",
            {
                "period": ["month"],
                "metric": ["customers"],
                "group_by": ["affiliate"],
                "tz": ["America/New_York"],
            },
        ),
        (
            "cohorts week, payout, by sub1",
            {"period": ["week"], "metric": ["payout"], "group_by": ["sub1"]},
        ),
    ]
    for name, params in cases:
        await _measure(name, partial(service.cohorts, pool, {**year, **params}, ADMIN), args.runs)
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
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
