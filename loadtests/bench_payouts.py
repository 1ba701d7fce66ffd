"""A payout run over 10,000 affiliates and 2M ledger entries; one statement PDF; one
affiliate's balance. Figures printed; targets (issue 14): < 10 s, < 200 ms, < 20 ms.

    .venv/bin/python -m loadtests.bench_payouts
    # BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/tracker_bench_payouts,
    # dropped and created fresh)

The data is made in SQL (generate_series), as attribution would have left it: per
affiliate 200 conversions with their commissions (of all of them: 85% approved long ago,
so available; 5% approved yesterday, held; 5% pending; 5% rejected, with the reversal),
and some bonuses. Each figure goes through the service layer its endpoint uses.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import time
from decimal import Decimal

import asyncpg

from app import db
from app.ledger import service as ledger_service
from app.payouts import service as payout_service
from app.payouts import statement
from app.payouts.schemas import RunIn
from loadtests.bench_redirect import prepare

DATA = """
INSERT INTO advertisers (name, postback_token) VALUES ('Bench', 'bench-token');
INSERT INTO offers (advertiser_id, name, url, currency, hold_days)
SELECT 1, 'Offer ' || g, 'https://shop.example/', 'USD', 30 FROM generate_series(1, 20) g;
INSERT INTO affiliates (name, email)
SELECT 'Affiliate ' || g, 'a' || g || '@example.com' FROM generate_series(1, $AFFILIATES) g;
INSERT INTO conversions (advertiser_id, txid, affiliate_id, offer_id, goal, status, currency,
                         revenue, payout, received_at, status_at, created_at)
SELECT 1, 'bench-' || g, 1 + g % $AFFILIATES, 1 + g % 20, 'conversion',
       CASE WHEN g / $AFFILIATES % 20 = 0 THEN 'rejected'
            WHEN g / $AFFILIATES % 20 = 1 THEN 'pending' ELSE 'approved' END,
       'USD', 4.00, 1.00 + (g % 7),
       now() - interval '90 days',
       CASE WHEN g / $AFFILIATES % 20 = 2 THEN now() - interval '1 day'
            ELSE now() - interval '60 days' END,
       now() - interval '90 days'
FROM generate_series(1, $CONVERSIONS) g;
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, hold_days,
                            created_by, created_at)
SELECT affiliate_id, 'USD', 'commission', payout, id, 30, 'bench', created_at
FROM conversions ORDER BY id;
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, reverses,
                            reason, created_by)
SELECT e.affiliate_id, 'USD', 'reversal', -e.amount, e.conversion_id, e.id, 'rejected', 'bench'
FROM ledger_entries e JOIN conversions c ON c.id = e.conversion_id WHERE c.status = 'rejected';
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason, created_by)
SELECT 1 + g % $AFFILIATES, 'USD', 'bonus', 5.00, 'bench bonus', 'bench'
FROM generate_series(1, $BONUSES) g;
ANALYZE;
"""


async def load(dsn: str, affiliates: int, conversions: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await db.migrate(conn)
        started = time.perf_counter()
        sql = (
            DATA.replace("$AFFILIATES", str(affiliates))
            .replace("$CONVERSIONS", str(conversions))
            .replace("$BONUSES", str(affiliates * 5))
        )
        await conn.execute(sql)
        entries = await conn.fetchval("SELECT count(*) FROM ledger_entries")
        print(
            f"data: {affiliates} affiliates, {entries} ledger entries "
            f"({time.perf_counter() - started:.1f} s to make)"
        )
    finally:
        await conn.close()


async def measure(dsn: str) -> None:
    pool = await db.create_pool(dsn, min_size=1, max_size=2)
    try:
        affiliate = 4250
        timings = []
        for _ in range(30):
            started = time.perf_counter()
            await ledger_service.balance(
                pool, affiliate_id=affiliate, default_threshold=Decimal(50)
            )
            timings.append(time.perf_counter() - started)
        print(
            f"balance of one affiliate: p50 {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms (30 reads, before the run)"
        )

        started = time.perf_counter()
        run = await payout_service.create_run(
            pool,
            body=RunIn(currency="USD", up_to=dt.datetime.now(dt.UTC).date()),
            default_threshold=Decimal(50),
            created_by="bench",
        )
        elapsed = time.perf_counter() - started
        claimed = await pool.fetchval("SELECT sum(cardinality(entry_ids)) FROM payouts")
        print(
            f"payout run: {run.payouts} payouts, {claimed} entries taken, {run.amount} USD "
            f"in {elapsed:.2f} s"
        )

        payout_id = await pool.fetchval("SELECT id FROM payouts WHERE affiliate_id = $1", affiliate)
        timings = []
        size = 0
        for _ in range(10):
            started = time.perf_counter()
            payout = await payout_service.get_payout(
                pool, payout_id=payout_id, only_affiliate_id=None
            )
            loaded = await statement.load(
                pool, payout=payout, program_name="Bench program", program_address="1 Main St"
            )
            size = len(statement.render(loaded))
            timings.append(time.perf_counter() - started)
        lines = await pool.fetchval(
            "SELECT cardinality(entry_ids) FROM payouts WHERE id = $1", payout_id
        )
        print(
            f"statement PDF ({lines} lines, {size} bytes): p50 "
            f"{statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
        )

        timings = []
        for _ in range(30):
            started = time.perf_counter()
            await ledger_service.balance(
                pool, affiliate_id=affiliate, default_threshold=Decimal(50)
            )
            timings.append(time.perf_counter() - started)
        print(
            f"balance of one affiliate: p50 {statistics.median(timings) * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms (30 reads, after the run)"
        )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--affiliates", type=int, default=10_000)
    parser.add_argument("--conversions", type=int, default=1_950_000)
    parser.add_argument("--reuse", action="store_true", help="keep the data of a previous run")
    args = parser.parse_args()
    dsn = os.environ.get(
        "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tracker_bench_payouts"
    )
    if not args.reuse:
        asyncio.run(prepare(dsn, "redis://127.0.0.1:6379/12"))
        asyncio.run(load(dsn, args.affiliates, args.conversions))
    asyncio.run(measure(dsn))


if __name__ == "__main__":
    main()
