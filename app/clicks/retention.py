"""Day partitions of `clicks`: made ahead of time, dropped after the retention period.

Dropping a partition is instant and leaves no bloat, unlike deleting rows; the rollups
keep the aggregates of the dropped days, the sub-ID tier (built from raw rows) does not.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from app.db import Executor
from app.rollups import subids

logger = logging.getLogger(__name__)

DAYS_AHEAD = 3

LIST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'clicks' AND c.relname ~ '^clicks_[0-9]{8}$'
ORDER BY c.relname
"""
ENSURE_PARTITIONS = "SELECT ensure_click_partitions($1::date, $2)"


def partition_day(name: str) -> date:
    digits = name.removeprefix("clicks_")
    return date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


async def maintain_partitions(conn: Executor, *, today: date, keep_days: int) -> list[str]:
    """Create the next days' partitions; drop those older than `keep_days`; the dropped."""
    await conn.execute(ENSURE_PARTITIONS, today, DAYS_AHEAD + 1)
    if keep_days <= 0:
        return []
    oldest_kept = today - timedelta(days=keep_days)
    # The sub-ID tier goes first: a report meanwhile reads the partition, never a tier
    # day whose raw clicks are gone.
    await subids.forget_before(conn, oldest_kept)
    dropped = []
    for row in await conn.fetch(LIST_PARTITIONS):
        name = row["relname"]
        if partition_day(name) < oldest_kept:
            # The name comes from the catalog and matched ^clicks_[0-9]{8}$ above.
            await conn.execute(f'DROP TABLE IF EXISTS "{name}"')
            dropped.append(name)
    if dropped:
        logger.info("dropped click partitions past retention: %s", ", ".join(dropped))
    return dropped
