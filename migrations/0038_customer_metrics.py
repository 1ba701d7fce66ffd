"""The customer metrics of the stats rollups (issue 13): `new_customers`,
`repeat_conversions` and `customer_revenue` on every tier, and the tier trigger function
remade to carry them (app/rollups/registry.py: fanout_function). A column NOT NULL with a
constant default is a catalog change on PostgreSQL 11+, so each ALTER holds its table's
lock for an instant; the tables are altered in fan-out order (a tier after its source), the
order writers lock them in. The rows kept before are recounted by 0039."""

from __future__ import annotations

from app.db import Connection
from app.rollups import registry

TRANSACTION = True

# The amounts of every tier once this migration has run, in column order: fixed here, so
# that a later change of the registry does not change what this migration made.
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


async def apply(conn: Connection) -> None:
    await conn.execute("SET LOCAL lock_timeout = '10s'")
    for table in TABLES:
        await conn.execute(
            f"ALTER TABLE {table}"
            " ADD COLUMN new_customers bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN repeat_conversions bigint NOT NULL DEFAULT 0,"
            " ADD COLUMN customer_revenue numeric(20, 4) NOT NULL DEFAULT 0"
        )
    await conn.execute(registry.fanout_function(METRICS))
