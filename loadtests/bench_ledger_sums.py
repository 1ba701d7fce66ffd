"""What migration 0069's triggers cost the ledger's writers, on a loaded data set.

Each writer's statement runs in a transaction that is rolled back, alternately with the
trigger that keeps the balance sums enabled and disabled (ALTER TABLE ... DISABLE TRIGGER
inside the same transaction, so nothing stays changed): a batch of conversion status
changes (approved to pending, then back), a batch of new commissions, and a whole payout
run (queries.TAKE) in the busiest currency. Prints the median milliseconds of each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg

from app.ledger import queries as ledger_queries
from app.payouts import queries as payout_queries

Step = Callable[[asyncpg.Connection], Awaitable[object]]


async def _timed(conn: asyncpg.Connection, step: Step, disable: str | None) -> float:
    tx = conn.transaction()
    await tx.start()
    try:
        if disable:
            await conn.execute(disable)
        started = time.perf_counter()
        await step(conn)
        return (time.perf_counter() - started) * 1000
    finally:
        await tx.rollback()


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.dsn)
    try:
        busiest = await conn.fetchval(
            "SELECT affiliate_id FROM ledger_entries GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        approved = [
            r["id"]
            for r in await conn.fetch(
                """SELECT c.id FROM conversions c
                   WHERE c.affiliate_id = $1 AND c.status = 'approved'
                     AND EXISTS (SELECT 1 FROM ledger_entry_balances b
                                 JOIN ledger_entries e ON e.id = b.entry_id
                                 WHERE e.conversion_id = c.id AND b.live_status IS NULL)
                   ORDER BY c.id DESC LIMIT $2""",
                busiest,
                args.batch,
            )
        ]
        fresh = await conn.fetch(
            """SELECT id, affiliate_id, currency, payout, offer_id FROM conversions
               WHERE affiliate_id = $1 ORDER BY id LIMIT $2""",
            busiest,
            args.batch,
        )
        currency = await conn.fetchval(
            "SELECT currency FROM ledger_entries GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        )
        now = await conn.fetchval("SELECT now()")

        async def statuses(c: asyncpg.Connection) -> None:
            for status in ("pending", "approved"):
                await c.execute(
                    """UPDATE conversions SET status = $2, status_at = now(),
                           updated_at = now() WHERE id = ANY($1::bigint[])""",
                    approved,
                    status,
                )

        async def commissions(c: asyncpg.Connection) -> None:
            await c.execute(
                ledger_queries.INSERT_COMMISSIONS,
                [r["id"] for r in fresh],
                [r["affiliate_id"] for r in fresh],
                [r["currency"] for r in fresh],
                [r["payout"] for r in fresh],
                [r["offer_id"] for r in fresh],
                ["bench"] * len(fresh),
            )

        async def run(c: asyncpg.Connection) -> None:
            await c.fetch(
                payout_queries.TAKE, currency, now, None, Decimal(1), None, "bench", "pending"
            )

        cases: list[tuple[str, Step, str]] = [
            (f"{len(approved)} status changes x2 (busiest)", statuses, "conversions"),
            (f"{len(fresh)} new commissions", commissions, "ledger_entries"),
            (f"payout run, all of {currency.strip()}", run, "payouts"),
        ]
        triggers = {
            "conversions": "conversions_ledger_update",
            "ledger_entries": "ledger_entries_balances",
            "payouts": "payouts_ledger_insert",
        }
        print(f"load average {os.getloadavg()}")
        print("| writer | with sums ms | without ms | ratio |\n|---|---:|---:|---:|")
        for name, step, table in cases:
            disable = f"ALTER TABLE {table} DISABLE TRIGGER {triggers[table]}"
            with_sums: list[float] = []
            without: list[float] = []
            for _ in range(args.runs):
                with_sums.append(await _timed(conn, step, None))
                without.append(await _timed(conn, step, disable))
            a, b = statistics.median(with_sums), statistics.median(without)
            print(f"| {name} | {a:.1f} | {b:.1f} | {a / b:.2f} |", flush=True)
        print(f"load average {os.getloadavg()}")
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--dsn", default="postgresql://postgres@127.0.0.1:5432/tracker_stats_pages21"
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
