"""The click store's throughput (ClickWriter.write, 2,000-click batches), A/B in one run.

    .venv/bin/python -m loadtests.bench_click_store \\
        --dsn postgresql://postgres@127.0.0.1:5432/tracker_store_bench --rounds 6

Variants, alternated round by round on a fresh day each:
- `writer`: the click writer as it is (the sub-ID tier is sealed later by the upkeep);
- `writer+tier`: the same, plus the tier kept in the writer's own transaction, one upsert
  per distinct (affiliate, dimension, value, currency) of the batch (the design tried
  and not taken, issue 17);
- `writer+seal`: the writer while another connection seals the sub-ID tier of the clicks
  stored so far, over and over (the upkeep's cost to the writer while it runs).
Sub1 is drawn from 100,000 skewed values as in loadtests/load_stats.py, so a batch holds
nearly as many distinct sub1 as clicks; `--diverted 0.05` marks that share of the clicks
diverted, by a random reason. Creates the database if missing (and migrates it).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app import db
from app.clicks.store import COLUMNS, INSERT_FROM_STAGE, Click, ClickWriter
from app.rollups import subids
from loadtests.load_stats import AGENTS, SOURCES, ensure_database, make_catalog

BATCH = 2000
# The tier kept by the writer: its batch's staged clicks, grouped, added in key order.
BATCH_TIER = subids.ADD_TIER.replace(
    "FROM clicks k CROSS JOIN", "FROM click_stage k CROSS JOIN"
).replace("WHERE k.clicked_at >= $2 AND k.clicked_at < $3", "")


class TierWriter(ClickWriter):
    """The writer with the tier added per batch (measured, not used)."""

    async def write(self, clicks: list[Click]) -> int:
        async with self._pool.acquire() as conn:
            await self._ensure_partitions(conn, clicks)
            async with conn.transaction():
                await conn.execute("CREATE TEMP TABLE IF NOT EXISTS click_stage (LIKE clicks"
                                   " INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")  # fmt: skip
                await conn.copy_records_to_table(
                    "click_stage",
                    records=[(*c.row, c.currency) for c in clicks],
                    columns=[*COLUMNS, "currency"],
                )
                inserted: int = await conn.fetchval(INSERT_FROM_STAGE)
                day = clicks[0].row[1].date()
                await conn.execute(BATCH_TIER, day)
        return inserted


# What the redirect stores in clicks.diverted (app/rollups/registry.py: DIVERTED_REASONS).
REASONS = ("cap", "paused", "archived", "affiliate_inactive", "targeting_country",
           "targeting_device")  # fmt: skip


def batches(
    links: list[Any], day: datetime, count: int, rng: random.Random, diverted: float = 0.0
) -> list[list[Click]]:
    weights = [1 / (i + 1) ** 0.6 for i in range(100_000)]
    link_weights = [1 / (i + 1) ** 0.8 for i in range(len(links))]
    out = []
    for _ in range(count):
        batch = []
        subs = rng.choices(range(100_000), weights, k=BATCH)
        for sub, link in zip(subs, rng.choices(links, link_weights, k=BATCH), strict=True):
            at = day + timedelta(milliseconds=rng.randrange(86_400_000))
            agent = rng.choice(AGENTS)[0]
            reason = rng.choice(REASONS) if rng.random() < diverted else None
            values: dict[str, Any] = dict.fromkeys(COLUMNS)
            values.update(click_id=uuid.uuid4(), clicked_at=at, link_id=link[0],
                          affiliate_id=link[1], offer_id=link[2], sub1=f"kw{sub}",
                          sub2=f"ad{sub % 50}", source=SOURCES[sub % len(SOURCES)],
                          country="US", device=agent[0], os=agent[1], browser=agent[2],
                          is_bot=agent[0] == "bot", is_unique=False,
                          diverted=reason)  # fmt: skip
            batch.append(Click(row=[values[c] for c in COLUMNS], currency=link[3], visitor=b""))
        out.append(batch)
    return out


async def run_round(pool: db.Pool, variant: str, day: datetime, work: list[list[Click]]) -> float:
    writer = TierWriter(pool) if variant == "writer+tier" else ClickWriter(pool)
    # One upkeep pass meanwhile: it seals the days written by the rounds before.
    sealer = asyncio.create_task(subids.seal(pool, day)) if variant == "writer+seal" else None
    started = time.perf_counter()
    for batch in work:
        await writer.write(batch)
    elapsed = time.perf_counter() - started
    if sealer is not None:
        sealed_started = time.perf_counter()
        days = await sealer
        print(f"  seal pass: {len(days)} days, {time.perf_counter() - sealed_started:.1f}s"
              " after the writer's round ended")  # fmt: skip
    return len(work) * BATCH / elapsed


async def main(args: argparse.Namespace) -> None:
    await ensure_database(args.dsn)
    conn = await asyncpg.connect(args.dsn)
    await db.migrate(conn)
    rng = random.Random(17)
    links = await make_catalog(conn, rng, 50, 20)
    await conn.close()
    pool = await db.create_pool(args.dsn, min_size=2, max_size=4)
    variants = args.variants.split(",")
    rates: dict[str, list[float]] = {v: [] for v in variants}
    day = datetime(2031, 1, 1, tzinfo=UTC)
    for round_no in range(args.rounds):
        for variant in variants if round_no % 2 == 0 else variants[::-1]:
            day += timedelta(days=1)
            work = batches(links, day, args.batches, rng, args.diverted)
            rate = await run_round(pool, variant, day, work)
            rates[variant].append(rate)
            print(f"round {round_no + 1} {variant:12} {rate:8.0f} clicks/s", flush=True)
    base = statistics.median(rates[variants[0]])
    for variant, values in rates.items():
        median = statistics.median(values)
        print(f"{variant:12} median {median:8.0f} clicks/s  ratio {median / base:.2f}")
    await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_store_bench")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=25, help="2,000-click batches per round")
    parser.add_argument("--variants", default="writer,writer+tier,writer+seal")
    parser.add_argument("--diverted", type=float, default=0.0, help="share of clicks diverted")
    asyncio.run(main(parser.parse_args()))
