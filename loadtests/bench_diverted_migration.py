"""Migration 0073 (diverted clicks by reason) on a live data set: each step's time, the
recount's longest lock, and what a writer meanwhile waits.

    .venv/bin/python -m loadtests.bench_diverted_migration \\
        --dsn postgresql://postgres@127.0.0.1:5432/tracker_pages22_diverted --mark 0.04

On a database migrated up to 0072 (a loadtests/load_stats.py data set): `--mark` first
marks that share of its clicks diverted (as the redirect would have stored them, by a
random reason; humans and bots alike), as the version before 0073 left them: counted in
no rollup. Then the migration's steps, timed one by one, while a probe writes as the
click writer does (one transaction: a click insert that conflicts, and an upsert of a
stats_rollup row in 2031, every 20 ms) and records how long each write took. Last, the
migration runner applies 0073 (a second run of every step: each is idempotent) and
records it; the rollups' diverted totals are checked against the raw clicks.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import asyncpg

from app import db
from app.rollups import diverted, registry

MIGRATION = Path(db.MIGRATIONS_DIR) / "0073_diverted_clicks.py"
# A click's reason and whether it is marked, from its ID's random bytes (even shares).
MARK = """
UPDATE clicks SET diverted = (ARRAY[{reasons}])[1 + get_byte(uuid_send(click_id), 15) % {n}]
WHERE clicked_at >= $1 AND clicked_at < $2 AND diverted IS NULL
  AND get_byte(uuid_send(click_id), 14) < $3"""
PROBE_CLICK = uuid.UUID("01900000-0000-7000-8000-000000000001")
PROBE = """
WITH c AS (
    INSERT INTO clicks (click_id, clicked_at, link_id, affiliate_id, offer_id, currency)
    SELECT $1, now(), l.id, l.affiliate_id, l.offer_id, 'USD' FROM links l ORDER BY l.id LIMIT 1
    ON CONFLICT DO NOTHING RETURNING 1
)
INSERT INTO stats_rollup AS r (bucket, affiliate_id, offer_id, link_id, country, device, os,
    browser, currency, clicks)
VALUES (TIMESTAMPTZ '2031-01-01 00:00:00+00', 0, 0, 0, '', '', '', '', 'USD', 0)
ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
DO UPDATE SET clicks = r.clicks"""


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("m0073", MIGRATION)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Probe:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.waits: list[tuple[float, float]] = []  # (started, seconds)
        self.stop = asyncio.Event()

    async def run(self) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                async with conn.transaction():
                    await conn.execute(PROBE, PROBE_CLICK)
                self.waits.append((started, time.perf_counter() - started))
                await asyncio.sleep(0.02)
        finally:
            await conn.close()

    def during(self, start: float, end: float) -> str:
        waits = sorted(s for t, s in self.waits if start <= t < end)
        if not waits:
            return "no writes"
        p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
        return (
            f"{len(waits)} writes, median {statistics.median(waits) * 1000:.1f} ms,"
            f" p99 {p99 * 1000:.1f} ms, max {waits[-1] * 1000:.1f} ms"
        )


async def _mark(conn: asyncpg.Connection, share: float) -> None:
    if await conn.fetchval("SELECT EXISTS (SELECT FROM clicks WHERE diverted IS NOT NULL)"):
        print("clicks already diverted: not marking", flush=True)
        return
    reasons = ", ".join(f"'{r}'" for r in registry.DIVERTED_REASONS)
    sql = MARK.format(reasons=reasons, n=len(registry.DIVERTED_REASONS))
    span = await conn.fetchrow("SELECT min(clicked_at), max(clicked_at) FROM clicks")
    assert span is not None
    started = time.perf_counter()
    day = span[0].replace(hour=0, minute=0, second=0, microsecond=0)
    marked = 0
    while day <= span[1]:
        end = day + timedelta(days=1)
        status = await conn.execute(sql, day, end, int(share * 256))
        marked += int(status.split()[-1])
        day = end
    print(f"marked {marked} clicks diverted in {time.perf_counter() - started:.0f}s", flush=True)
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE clicks")
    print(f"vacuum analyze clicks: {time.perf_counter() - started:.0f}s", flush=True)


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.dsn)
    try:
        if args.mark:
            await _mark(conn, args.mark)
        migration = _migration()
        probe = Probe(args.dsn)
        probing = asyncio.create_task(probe.run())
        await asyncio.sleep(1)
        steps = [
            ("add columns, fan-out function", migration.add_columns),
            ("partial index, concurrently", migration.build_index),
            ("recount", diverted.recount),
            ("migration runner (second run of each step)", db.migrate),
        ]
        if args.recount_only:
            steps = [("recount", diverted.recount)]
        for name, step in steps:
            started = time.perf_counter()
            result = await step(conn)
            ended = time.perf_counter()
            print(f"{name}: {ended - started:.1f}s; {result or ''}", flush=True)
            print(f"  writer meanwhile: {probe.during(started, ended)}", flush=True)
        probe.stop.set()
        await probing
        raw = await conn.fetchval(
            "SELECT count(*) FROM clicks WHERE diverted IS NOT NULL AND NOT is_bot"
        )
        rolled = await conn.fetchval("SELECT sum(diverted) FROM stats_rollup_totals")
        print(f"diverted human clicks: raw {raw}, stats_rollup_totals {rolled}", flush=True)
        print(f"at {datetime.now(UTC):%H:%M:%S} UTC", flush=True)
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--mark", type=float, default=0.0, help="share of clicks to divert first")
    parser.add_argument("--recount-only", action="store_true", help="run the recount alone")
    asyncio.run(main(parser.parse_args()))
