"""Load a reports benchmark data set: customers and their conversions over a year.

    .venv/bin/python -m loadtests.load_reports \
        --dsn postgresql://postgres@127.0.0.1:5432/tracker_bench_reports

Creates the database (if missing) and migrates it, makes the catalog of load_stats, then
in SQL: customers (first conversions spread over `--days`, bound to a link with a sub-ID,
source and country), each with 1 to 9 conversions (its first, then recurring ones at
random later times, 80 % approved), the customers' first_conversion_id, the conversion
rollups and their customer metrics (app.attribution.rollup.recount_customer_metrics), and
the cohort rollup (app.rollups.cohorts.rebuild).
Clicks for the funnel come from loadtests/load_stats.py (`--clicks`) into the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import asyncpg

from app import db
from app.attribution.rollup import recount_customer_metrics
from app.rollups import cohorts
from loadtests.load_stats import ROLLUP_CONVERSIONS, ensure_database, make_catalog

CUSTOMERS = """
INSERT INTO customers (id, advertiser_id, external_id, affiliate_id, offer_id, link_id, sub1,
    source, country, first_conversion_id, first_conversion_at)
SELECT g, 1, 'c' || g, l.affiliate_id, l.offer_id, l.id, 'kw' || (g % $3),
       (ARRAY['fb', 'google', 'tiktok', 'native', 'email'])[1 + g % 5],
       (ARRAY['US', 'GB', 'DE', 'IN', 'BR', 'FR'])[1 + (g / 7) % 6], 0,
       now() - $2::int * interval '1 day' * random()
FROM generate_series(1, $1::int) g
JOIN (SELECT id, affiliate_id, offer_id, row_number() OVER (ORDER BY id) - 1 AS n FROM links) l
  ON l.n = (g::bigint * 7919) % (SELECT count(*) FROM links)
"""
CONVERSIONS = """
INSERT INTO conversions (advertiser_id, txid, link_id, affiliate_id, offer_id, goal, status,
    currency, revenue, payout, sub1, source, country, received_at, created_at, customer_id,
    recurring, attributed_via)
SELECT 1, 'tx' || c.id || '-' || k, c.link_id, c.affiliate_id, c.offer_id, 'conversion',
       CASE WHEN k > 1 AND random() < 0.2 THEN 'pending' ELSE 'approved' END,
       o.currency, 4, 2.5, c.sub1, c.source, c.country, t.at, t.at, c.id, k > 1,
       CASE WHEN k = 1 THEN 'click' ELSE 'customer' END
FROM customers c
JOIN offers o ON o.id = c.offer_id
CROSS JOIN LATERAL generate_series(1, 1 + (c.id * 2654435761) % 9) k
CROSS JOIN LATERAL (SELECT CASE WHEN k = 1 THEN c.first_conversion_at
    ELSE c.first_conversion_at + (now() - c.first_conversion_at) * random() END AS at) t
WHERE c.id > $1 AND c.id <= $2
"""
FIRST_IDS = """
UPDATE customers c SET first_conversion_id = v.id, first_conversion_at = v.created_at
FROM conversions v
WHERE v.customer_id = c.id AND NOT v.recurring AND c.id > $1 AND c.id <= $2
"""


async def load(args: argparse.Namespace) -> None:
    await ensure_database(args.dsn)
    conn = await asyncpg.connect(args.dsn)
    started = time.perf_counter()

    def say(what: str) -> None:
        print(f"{what}: {time.perf_counter() - started:.0f}s", flush=True)

    try:
        await db.migrate(conn)
        if await conn.fetchval("SELECT count(*) FROM customers"):
            raise SystemExit("the database already holds customers; use a fresh one")
        if not await conn.fetchval("SELECT count(*) FROM links"):
            await make_catalog(conn, random.Random(args.seed), args.affiliates, args.offers)
        await conn.execute("SELECT setseed($1)", args.seed / 1000)
        await conn.execute(CUSTOMERS, args.customers, args.days, args.sub1)
        await conn.execute("SELECT setval(pg_get_serial_sequence('customers', 'id'), $1)",
                           args.customers)  # fmt: skip
        say(f"{args.customers} customers")
        step = 100_000
        for low in range(0, args.customers, step):
            await conn.execute(CONVERSIONS, low, low + step)
            await conn.execute(FIRST_IDS, low, low + step)
            say(f"conversions of customers {low + 1}-{min(low + step, args.customers)}")
        # The recounts below join conversions to themselves: planned on no statistics
        # (autovacuum may not have come by yet), they are nested loops over millions.
        await conn.execute("ANALYZE conversions")
        await conn.execute("ANALYZE customers")
        await conn.execute(ROLLUP_CONVERSIONS)
        say("conversion rollups")
        await recount_customer_metrics(conn)
        async with conn.transaction():
            await cohorts.rebuild(conn)
        say("cohort rollup")
        await conn.execute("ANALYZE")
        count = await conn.fetchval("SELECT count(*) FROM conversions")
        say(f"done: {count} conversions")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_bench_reports"
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--affiliates", type=int, default=50)
    parser.add_argument("--offers", type=int, default=20)
    parser.add_argument("--sub1", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=13)
    asyncio.run(load(parser.parse_args()))


if __name__ == "__main__":
    main()
