"""p50/p95 of the stats reports over a data set made by loadtests/load_stats.py.

    .venv/bin/python -m loadtests.bench_stats --dsn postgresql://postgres@127.0.0.1:5432/bench

Each report runs through the service layer the endpoint uses (plan, SQL, rendering of
every row to JSON values or CSV bytes) on an admin key; HTTP framing is left out.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from app import db
from app.keys.service import Principal
from app.rollups import subids
from app.stats import service as stats_service
from app.stats.vocabulary import SUB_DIMENSIONS

ADMIN = Principal(role="admin")


def _params(**values: str) -> dict[str, list[str]]:
    return {k: [v] for k, v in values.items()}


async def main(args: argparse.Namespace) -> None:
    pool = await db.create_pool(args.dsn, min_size=1, max_size=2)
    if args.seal:
        # The worker's hourly upkeep does this; timed here as its cost per pass.
        started = time.perf_counter()
        now = datetime.fromisoformat(args.seal_now) if args.seal_now else None
        days = await subids.seal(pool, now, days=args.seal_days)
        print(f"sealed {len(days)} days in {time.perf_counter() - started:.1f}s", flush=True)
    today = datetime.now(UTC).date()
    month = {"from": (today - timedelta(days=29)).isoformat(), "to": today.isoformat()}
    by_traffic = await pool.fetch(
        "SELECT affiliate_id FROM stats_rollup_daily GROUP BY 1 ORDER BY sum(clicks) DESC"
    )
    # The busiest affiliate (the worst case) and the median one (a typical dashboard).
    top_affiliate = by_traffic[0]["affiliate_id"]
    median_affiliate = by_traffic[len(by_traffic) // 2]["affiliate_id"]

    def json_report(**params: str) -> Callable[[], Coroutine[Any, Any, int]]:
        plan, _ = stats_service.plan(_params(**params), ADMIN)

        async def run() -> int:
            body = await stats_service.report_json(pool, plan)
            orjson.dumps(body)
            return len(body["rows"])

        return run

    def raw_report(**params: str) -> Callable[[], Coroutine[Any, Any, int]]:
        """The report from the raw clicks, as before the sub-ID tier (the A/B baseline)."""
        plan, _ = stats_service.plan(_params(**params), ADMIN)
        plan = replace(plan, totals_reads=None)

        async def run() -> int:
            body = await stats_service.report_json(pool, plan)
            orjson.dumps(body)
            return len(body["rows"])

        return run

    def csv_report(**params: str) -> Callable[[], Coroutine[Any, Any, int]]:
        plan, _ = stats_service.plan(_params(**params, format="csv"), ADMIN)

        async def run() -> int:
            size = 0
            async for chunk in stats_service.report_csv(pool, plan):
                size += len(chunk)
            return size

        return run

    reports = [
        ("by day, 30 days", json_report(**month, group_by="day")),
        ("by day, 30 days, Asia/Kolkata", json_report(**month, group_by="day", tz="Asia/Kolkata")),
        (
            "by day, 30 days, Asia/Kolkata, median affiliate",
            json_report(
                **month, group_by="day", tz="Asia/Kolkata", affiliate=str(median_affiliate)
            ),
        ),
        (
            "by day and offer, 30 days, Asia/Kolkata",
            json_report(**month, group_by="day,offer", tz="Asia/Kolkata"),
        ),
        (
            "by day and offer, 30 days, America/New_York",
            json_report(**month, group_by="day,offer", tz="America/New_York"),
        ),
        ("by affiliate, 30 days", json_report(**month, group_by="affiliate")),
        (
            "by affiliate, 30 days, Asia/Kolkata",
            json_report(**month, group_by="affiliate", tz="Asia/Kolkata"),
        ),
        ("by affiliate, last 7 days (default range)", json_report(group_by="affiliate")),
        ("by offer and country, 30 days", json_report(**month, group_by="offer,country")),
        (
            "by offer and country, 30 days, Asia/Kolkata",
            json_report(**month, group_by="offer,country", tz="Asia/Kolkata"),
        ),
        (
            "top 20 sub1 of the busiest affiliate, 7 days",
            json_report(group_by="sub1", affiliate=str(top_affiliate), sort="-clicks", limit="20"),
        ),
        (
            "top 20 sub1 of the median affiliate, 7 days",
            json_report(
                group_by="sub1", affiliate=str(median_affiliate), sort="-clicks", limit="20"
            ),
        ),
        *(
            (
                f"top {args.limit} {dimension} of the {which} affiliate, 7 days{label}",
                make(
                    group_by=dimension,
                    affiliate=str(affiliate),
                    sort="-clicks",
                    limit=str(args.limit),
                ),
            )
            for dimension in SUB_DIMENSIONS
            for which, affiliate in (("busiest", top_affiliate), ("median", median_affiliate))
            for label, make in ((" (tier)", json_report), (" (raw)", raw_report))
        ),
        ("CSV: daily report, 30 days (by day)", csv_report(**month, group_by="day")),
        (
            "CSV: daily report, 30 days (by day, affiliate, offer)",
            csv_report(**month, group_by="day,affiliate,offer"),
        ),
    ]
    print(f"{'report':60} {'p50 ms':>8} {'p95 ms':>8} {'rows/bytes':>11}")
    for name, run in reports:
        if args.only and args.only not in name:
            continue
        for _ in range(args.warmup):
            await run()
        timings = []
        size = 0
        for _ in range(args.runs):
            started = time.perf_counter()
            size = await run()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
        print(f"{name:60} {p50:8.1f} {p95:8.1f} {size:11}", flush=True)
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench")
    parser.add_argument("--runs", type=int, default=40)
    # The portal's tables by one sub-ID ask for 101 (app/portal/overview.py).
    parser.add_argument("--limit", type=int, default=20, help="the top sub-IDs' limit")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", help="run the reports whose name holds this text")
    parser.add_argument("--seal", action="store_true", help="seal the sub-ID tier first")
    parser.add_argument("--seal-now", help="the instant to seal at (ISO); default now")
    parser.add_argument("--seal-days", type=int, help="seal only the latest N days")
    asyncio.run(main(parser.parse_args()))
