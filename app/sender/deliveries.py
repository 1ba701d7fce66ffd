"""The deliveries table as the engine and the deliveries API use it: claims under a lease,
the record of every try, and the log.

Rows are claimed with FOR UPDATE SKIP LOCKED and leased (their next attempt pushed out),
so several senders share the work and a killed sender's rows come back after the lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
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


@dataclass(frozen=True, slots=True)
class Outcome:
    """A try made, to be recorded: what follows from it is 'delivered', 'pending' again
    (due at `retry_at`) or, with no `retry_at`, 'failed'."""

    delivery_id: int
    attempt: Attempt
    retry_at: datetime | None
    webhook_id: int | None = None


async def record(
    pool: Pool,
    delivery_id: int,
    attempt: Attempt,
    *,
    retry_at: datetime | None,
    webhook_id: int | None = None,
    policy: health.DisablePolicy | None = None,
) -> str:
    """Store one try (see `record_many`); the delivery's status after it."""
    [status] = await record_many(
        pool, [Outcome(delivery_id, attempt, retry_at, webhook_id)], policy=policy
    )
    return status


async def record_many(
    pool: Pool, outcomes: Sequence[Outcome], *, policy: health.DisablePolicy | None = None
) -> list[str]:
    """Store a batch of tries and what follows from each, in one transaction of a few
    statements whatever its size (so one commit serves many deliveries); the deliveries'
    statuses after it, in order. Webhook tries also count for their endpoints' health
    (which may disable one, failing its other deliveries)."""
    if not outcomes:
        return []
    retry_at = [o.retry_at for o in outcomes]
    async with pool.acquire() as conn, conn.transaction():
        if policy is not None:
            tries = [
                (o.webhook_id, o.attempt.ok, o.attempt.status_code)
                for o in outcomes
                if o.webhook_id is not None
            ]
            # First, so that endpoint row locks come before delivery row locks, always.
            stops = iter(await health.record_tries(conn, tries, policy=policy))
            for i, outcome in enumerate(outcomes):
                if outcome.webhook_id is not None and next(stops) is not None:
                    retry_at[i] = None
        statuses = [
            "delivered" if o.attempt.ok else "pending" if at is not None else "failed"
            for o, at in zip(outcomes, retry_at, strict=True)
        ]
        await conn.execute(
            queries.RECORD_TRIES,
            [o.delivery_id for o in outcomes],
            [o.attempt.status_code for o in outcomes],
            [_storable(o.attempt.error) for o in outcomes],
            [o.attempt.latency_ms for o in outcomes],
            [_storable(o.attempt.snippet) for o in outcomes],
            statuses,
            retry_at,
        )
    return statuses


DeliveryStatus = Literal["pending", "delivered", "failed"]
DeliveryKind = Literal["postback", "webhook"]


class DeliveryQuery(AffiliatePage):
    status: DeliveryStatus | None = None
    kind: DeliveryKind | None = None
    webhook_id: IdQuery = None


async def list_deliveries(pool: Pool, *, query: DeliveryQuery) -> list[asyncpg.Record]:
    """A page of deliveries in ID order, filtered by affiliate, status, kind and
    webhook endpoint."""
    rows: list[asyncpg.Record] = await pool.fetch(*queries.LIST_DELIVERIES.bind(*query.arguments()))
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
