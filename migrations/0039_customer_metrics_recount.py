"""The customer metrics (0038) of the rollup rows kept before them, recounted from the
conversions one UTC day per transaction, writers going on between days
(app/attribution/rollup.py: recount_customer_metrics; README, Operations)."""

from __future__ import annotations

from app.attribution.rollup import recount_customer_metrics
from app.db import Connection

TRANSACTION = False


async def apply(conn: Connection) -> None:
    await recount_customer_metrics(conn)
