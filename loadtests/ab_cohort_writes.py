"""Interleaved A/B of the cohort rollup's write (app/rollups/cohorts.write, attribution's
share of it per batch) between this checkout and another one's module. Prints its figures.

    .venv/bin/python -m loadtests.ab_cohort_writes /work/wt/cohorts-main \
        --dsn postgresql://postgres@127.0.0.1:5432/tracker_bench_cohorts21_small

On a database loaded by loadtests/load_reports.py (it needs its customers and their first
conversions), each round writes the same batch of deltas (approved conversions now, of
random customers, as attribution adds them) through each module in turn, the order
alternating, each in a transaction rolled back afterwards (the data is left as it was).
Printed: the median time per batch and per conversion of each side, and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg

from app.rollups import cohorts


def load_other(tree: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "other_cohorts", tree / "app" / "rollups" / "cohorts.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def batch(customers: list[int], size: int, rng: random.Random) -> dict[Any, list[Any]]:
    now = datetime.now(UTC)
    cells: dict[Any, list[Any]] = {}
    for _ in range(size):
        at = now - timedelta(seconds=rng.randrange(3600))
        cells[(rng.choice(customers), at, "USD")] = [1, Decimal("4.00"), Decimal("2.50")]
    return cells


async def timed(conn: asyncpg.Connection, module: Any, cells: dict[Any, list[Any]]) -> float:
    tr = conn.transaction()
    await tr.start()
    started = time.perf_counter()
    await module.write(conn, cells, [])
    elapsed = time.perf_counter() - started
    await tr.rollback()
    return elapsed


async def main(args: argparse.Namespace) -> None:
    other = load_other(args.other)
    conn = await asyncpg.connect(args.dsn)
    rng = random.Random(7)
    customers = [r[0] for r in await conn.fetch("SELECT id FROM customers")]
    sides = {"this checkout": cohorts, f"{args.other}": other}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_ in range(args.rounds):
        cells = batch(customers, args.batch, rng)
        order = list(sides.items())
        if round_ % 2:
            order.reverse()
        for name, module in order:
            times[name].append(await timed(conn, module, cells))
    await conn.close()
    print(
        f"{args.rounds} rounds of {args.batch} conversions, load {os.getloadavg()[0]:.1f}:\n"
        "| side | ms per batch (median) | us per conversion |\n|---|---:|---:|"
    )
    medians = {name: statistics.median(t) for name, t in times.items()}
    for name, m in medians.items():
        print(f"| {name} | {m * 1000:.2f} | {m * 1e6 / args.batch:.1f} |")
    mine, theirs = medians["this checkout"], medians[f"{args.other}"]
    print(f"ratio this checkout / other: {mine / theirs:.2f}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="another checkout's tree")
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench_reports"
    )
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200)
    asyncio.run(main(parser.parse_args()))


if __name__ == "__main__":
    run()
