"""Diverted clicks by reason in the stats rollups (issue 16): `diverted` (every diverted
human click) and `diverted_<reason>` for each reason the redirect stores in
`clicks.diverted`, on every tier, with the tier trigger function remade to carry them
(app/rollups/registry.py: AMOUNTS). Each column is NOT NULL with a constant default, a
catalog change: an instant's lock per table, taken in fan-out order. Then the partial index
of the diverted clicks, built partition by partition concurrently, and the recount of the
rows kept before from the raw clicks still kept, one UTC hour per transaction
(app/rollups/diverted.py; README, Operations: migrations). Days whose partitions are
already dropped stay uncounted. Safe to run again: every step is."""

from __future__ import annotations

from app.db import Connection
from app.live_migrations import build_partitioned_index
from app.rollups import diverted, registry

TRANSACTION = False

# Fixed here, so that a later change of the registry does not change what this made.
REASONS = (
    "cap",
    "paused",
    "archived",
    "affiliate_inactive",
    "targeting_country",
    "targeting_device",
)
COLUMNS = ("diverted", *(f"diverted_{r}" for r in REASONS))
METRICS = (
    "clicks",
    "unique_clicks",
    "bot_clicks",
    "conversions",
    "pending_conversions",
    "rejected_conversions",
    "revenue",
    "payout",
    "new_customers",
    "repeat_conversions",
    "customer_revenue",
    *COLUMNS,
)
TABLES = (
    "stats_rollup",
    "stats_rollup_hourly",
    "stats_rollup_daily",
    "stats_rollup_daily_offer_country",
    "stats_rollup_links",
    "stats_rollup_links_hourly",
    "stats_rollup_daily_links",
    "stats_rollup_totals",
)


async def add_columns(conn: Connection) -> None:
    async with conn.transaction():
        await conn.execute("SET LOCAL lock_timeout = '10s'")
        for table in TABLES:
            added = ", ".join(
                f"ADD COLUMN IF NOT EXISTS {c} bigint NOT NULL DEFAULT 0" for c in COLUMNS
            )
            await conn.execute(f"ALTER TABLE {table} {added}")
        await conn.execute(registry.fanout_function(METRICS))


async def build_index(conn: Connection) -> None:
    await build_partitioned_index(
        conn, table="clicks", index=diverted.INDEX, definition=diverted.INDEX_DEFINITION
    )


async def apply(conn: Connection) -> None:
    await add_columns(conn)
    await build_index(conn)
    await diverted.recount(conn)
