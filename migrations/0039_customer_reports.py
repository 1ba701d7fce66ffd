"""The indexes of the cohort report, built concurrently (conversions go on meanwhile; a
build that failed leaves an invalid index, so each is dropped first), then the customer
metrics (0038) of the rollup rows kept before them, recounted from the conversions one UTC
day per transaction, writers going on between days (app/attribution/rollup.py:
recount_customer_metrics; README, Operations: migrations)."""

from __future__ import annotations

from app.attribution.rollup import recount_customer_metrics
from app.db import Connection

TRANSACTION = False

INDEXES = {
    # Customers' first conversions by time: who is in which cohort (app/reports/queries.py).
    "conversions_first_of_customer_idx": "conversions (created_at) INCLUDE (customer_id)"
    " WHERE customer_id IS NOT NULL AND NOT recurring",
    # A customer's approved conversions, read from the index alone.
    "conversions_customer_approved_idx": "conversions (customer_id)"
    " INCLUDE (created_at, currency, revenue, payout, affiliate_id)"
    " WHERE customer_id IS NOT NULL AND status = 'approved'",
}


async def apply(conn: Connection) -> None:
    for name, definition in INDEXES.items():
        await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        await conn.execute(f"CREATE INDEX CONCURRENTLY {name} ON {definition}")
    await recount_customer_metrics(conn)
