"""Conversion deltas of the stats rollups: what a creation or status change adds to, and
takes from, its rollup row, summed per row over a batch; and the recount of the customer
metrics from the conversions themselves, for the rows kept before they existed."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.attribution import queries
from app.attribution.rules import Row
from app.db import Connection
from app.rollups import cohorts, registry

_ZERO = Decimal(0)


def _contribution(status: str, row: Row) -> tuple[Any, ...]:
    """A status's amounts in registry.CONVERSION_METRICS order, new_customers aside (a
    customer is new once, when its first conversion is made, whatever happens to it)."""
    customer = row.get("customer_id") is not None
    if status == "approved":
        repeat = 1 if customer and row.get("recurring") else 0
        revenue = row["revenue"]
        return 1, 0, 0, revenue, row["payout"], 0, repeat, revenue if customer else _ZERO
    if status == "pending":
        return 0, 1, 0, _ZERO, _ZERO, 0, 0, _ZERO
    if status == "rejected":
        return 0, 0, 1, _ZERO, _ZERO, 0, 0, _ZERO
    return 0, 0, 0, _ZERO, _ZERO, 0, 0, _ZERO  # unattributed: in no affiliate's stats


_NEW_CUSTOMERS = registry.CONVERSION_METRICS.index("new_customers")


def _approved(status: str | None, row: Row) -> tuple[int, Any, Any]:
    if status == "approved":
        return 1, row["revenue"], row["payout"]
    return 0, _ZERO, _ZERO


class Rollups:
    def __init__(self) -> None:
        self._deltas: dict[tuple[Any, ...], list[Any]] = {}
        # The cohort rollup's (app/rollups/cohorts.py): a customer's approved conversions
        # by (customer, created_at, currency), and the first conversions made.
        self._cohorts: dict[tuple[int, datetime, str], list[Any]] = {}
        self._firsts: list[datetime] = []

    def _move_cohort(self, row: Row, old: str | None, new: str) -> None:
        customer = row.get("customer_id")
        if customer is None:
            return
        if old is None and not row.get("recurring"):
            self._firsts.append(row["created_at"])
        if "approved" not in (old, new):
            return
        cell = self._cohorts.setdefault(
            (int(customer), row["created_at"], row["currency"]), [0, _ZERO, _ZERO]
        )
        for i, (was, now) in enumerate(zip(_approved(old, row), _approved(new, row), strict=True)):
            cell[i] += now - was

    def move(self, row: Row, old: str | None, new: str) -> None:
        self._move_cohort(row, old, new)
        if row["affiliate_id"] is None:
            return
        key = (
            registry.bucket_of(row["created_at"]),
            row["affiliate_id"],
            row["offer_id"],
            row["link_id"],
            row["country"] or "",
            row["device"] or "",
            row["os"] or "",
            row["browser"] or "",
            row["currency"],
        )
        delta = self._deltas.setdefault(key, [0, 0, 0, _ZERO, _ZERO, 0, 0, _ZERO])
        if old is not None:
            for i, v in enumerate(_contribution(old, row)):
                delta[i] -= v
        elif row.get("customer_id") is not None and not row.get("recurring"):
            delta[_NEW_CUSTOMERS] += 1  # the customer's first conversion, made now
        for i, v in enumerate(_contribution(new, row)):
            delta[i] += v

    async def write(self, conn: Connection) -> None:
        await self._write_stats(conn)
        await cohorts.write(conn, self._cohorts, self._firsts)

    async def _write_stats(self, conn: Connection) -> None:
        rows = sorted((k, d) for k, d in self._deltas.items() if any(d))
        if not rows:
            return
        columns: list[list[Any]] = [
            [] for _ in range(len(registry.BASE_KEY) + len(registry.CONVERSION_METRICS))
        ]
        for key, delta in rows:
            for i, value in enumerate((*key, *delta)):
                columns[i].append(value)
        await conn.execute(queries.UPSERT_ROLLUPS, *columns)


# The customer metrics of conversions, as the deltas above add them up.
_KEYS = ", ".join(registry.BASE_TIER.keys)
_RECOUNT_ROWS = f"""
SELECT {registry.bucket_sql("created_at")} AS bucket, affiliate_id, offer_id, link_id,
       coalesce(country, ''), coalesce(device, ''), coalesce(os, ''), coalesce(browser, ''),
       currency,
       count(*) FILTER (WHERE NOT recurring) AS new_customers,
       count(*) FILTER (WHERE recurring AND status = 'approved') AS repeat_conversions,
       coalesce(sum(revenue) FILTER (WHERE status = 'approved'), 0) AS customer_revenue
FROM conversions
WHERE created_at >= $1 AND created_at < $2 AND customer_id IS NOT NULL
  AND affiliate_id IS NOT NULL AND status IN ('approved', 'pending', 'rejected')
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9"""
_ZERO_CUSTOMER_METRICS = f"""
UPDATE {registry.BASE} SET {", ".join(f"{m} = 0" for m in registry.CUSTOMER_METRICS)}
WHERE bucket >= $1 AND bucket < $2
  AND ({" OR ".join(f"{m} <> 0" for m in registry.CUSTOMER_METRICS)})"""
_SET_CUSTOMER_METRICS = registry.upsert(registry.CUSTOMER_METRICS, _RECOUNT_ROWS).replace(
    ",\n    ".join(f"{m} = r.{m} + EXCLUDED.{m}" for m in registry.CUSTOMER_METRICS),
    ", ".join(f"{m} = EXCLUDED.{m}" for m in registry.CUSTOMER_METRICS),
)
_RANGE = "SELECT min(created_at), max(created_at) FROM conversions WHERE customer_id IS NOT NULL"
# A recount of a day holds the base tier against writers (SHARE ROW EXCLUSIVE conflicts
# with their upserts) for as long as it takes: tens of milliseconds for a busy day.
_LOCK = f"LOCK TABLE {registry.BASE} IN SHARE ROW EXCLUSIVE MODE"
DAY = timedelta(days=1)


async def recount_customer_metrics(conn: Connection) -> int:
    """Set the customer metrics of every rollup row to what its conversions hold, one UTC
    day per transaction (the tier triggers carry the change up), and return the days done.

    Idempotent: each day is recounted from the conversions, not added to. While a day is
    recounted the base tier is locked against writers, so a conversion is either in the
    recount (committed before) or brings its delta after it (its upsert waits): none is
    counted twice or lost. Conversions whose status an older version changed after a run
    are set right by running it again (README, Operations)."""
    span = await conn.fetchrow(_RANGE)
    if span is None or span[0] is None:
        return 0
    last: datetime = span[1]
    day = registry.bucket_of(span[0], 86400)
    days = 0
    while day <= last:
        async with conn.transaction():
            await conn.execute(_LOCK)
            await conn.execute(_ZERO_CUSTOMER_METRICS, day, day + DAY)
            await conn.execute(_SET_CUSTOMER_METRICS, day, day + DAY)
        day += DAY
        days += 1
    return days
