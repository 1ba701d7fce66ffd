"""The deliveries table as the engine and the deliveries API use it: claims under a lease,
the record of every try, and the log.

Rows are claimed with FOR UPDATE SKIP LOCKED and leased (their next attempt pushed out),
so several senders share the work and a killed sender's rows come back after the lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg

from app.api_params import IdQuery
from app.db import Pool
from app.pagination import AffiliatePage
from app.sender import queries
from app.webhooks import health

if TYPE_CHECKING:
    from app.sender.attempt import Attempt

LEASE = timedelta(minutes=5)
# A claimed deliveries row (or a dict with its fields, in tests and the benchmark).
Claimed: TypeAlias = "Mapping[str, Any] | asyncpg.Record"


def _storable(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a receiver's garbage must not fail the bookkeeping.
    return value.replace("\x00", "\ufffd") if value is not None else None


async def claim(pool: Pool, limit: int, *, busy: list[str]) -> list[asyncpg.Record]:
    """Up to `limit` due rows, leased, none of them to the `busy` receivers."""
    rows: list[asyncpg.Record] = await pool.fetch(queries.CLAIM, limit, LEASE, busy)
    return rows


async def release(pool: Pool, rows: Sequence[Claimed]) -> None:
    """Give claimed rows back, due as before, for the next claim."""
    await pool.execute(queries.RELEASE, [r["id"] for r in rows], [r["due_at"] for r in rows])


async def record(
    pool: Pool,
    delivery_id: int,
    attempt: Attempt,
    *,
    retry_at: datetime | None,
    webhook_id: int | None = None,
    policy: health.DisablePolicy | None = None,
) -> str:
    """Store a try and what follows from it, in one transaction: the delivery is
    'delivered', 'pending' again (due at `retry_at`) or, with no `retry_at`, 'failed'.
    A webhook's try also counts for its endpoint's health (which may disable it)."""
    async with pool.acquire() as conn, conn.transaction():
        if webhook_id is not None and policy is not None:
            # First, so that the endpoint's row lock comes before the delivery's, always.
            stop = await health.record_try(
                conn, webhook_id, ok=attempt.ok, status_code=attempt.status_code, policy=policy
            )
            if stop is not None:
                retry_at = None
        await conn.execute(
            queries.RECORD_ATTEMPT,
            delivery_id,
            attempt.status_code,
            _storable(attempt.error),
            attempt.latency_ms,
            _storable(attempt.snippet),
        )
        if attempt.ok:
            await conn.execute(queries.MARK_DELIVERED, delivery_id)
            return "delivered"
        status = "pending" if retry_at is not None else "failed"
        await conn.execute(
            queries.MARK_RETRY,
            delivery_id,
            status,
            retry_at or datetime.now(UTC),
            _storable(attempt.error),
        )
    return status


DeliveryStatus = Literal["pending", "delivered", "failed"]
DeliveryKind = Literal["postback", "webhook"]


class DeliveryQuery(AffiliatePage):
    status: DeliveryStatus | None = None
    kind: DeliveryKind | None = None
    webhook_id: IdQuery = None


async def list_deliveries(pool: Pool, *, query: DeliveryQuery) -> list[asyncpg.Record]:
    """A page of deliveries in ID order, filtered by affiliate, status, kind and
    webhook endpoint."""
    rows: list[asyncpg.Record] = await pool.fetch(queries.LIST_DELIVERIES, *query.arguments())
    return rows


async def get(pool: Pool, delivery_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(queries.GET_DELIVERY, delivery_id)
    return row


async def attempts(pool: Pool, delivery_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(queries.LIST_ATTEMPTS, delivery_id)
    return rows


async def make_due(pool: Pool, delivery_id: int) -> asyncpg.Record | None:
    """The row made due now, or None when it does not exist or was delivered already."""
    row: asyncpg.Record | None = await pool.fetchrow(queries.RETRY_DELIVERY, delivery_id)
    return row
