"""The ledger's reads and its manual entries (bonus, adjustment). Conversions append
their own entries (app/ledger/record.py); payouts theirs (app/payouts)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import orjson

from app.db import Executor
from app.errors import Conflict, found
from app.ledger import queries
from app.ledger.schemas import BalanceOut, CurrencyBalance, EntryOut, LedgerQuery, ManualEntryIn

ZERO = Decimal(0)


def threshold_for(thresholds: dict[str, Any], currency: str, default: Decimal) -> Decimal:
    """The affiliate's smallest payout in a currency (the setting for one not listed)."""
    value = thresholds.get(currency)
    return Decimal(str(value)) if value is not None else default


def entry_out(row: asyncpg.Record | dict[str, Any], now: datetime) -> EntryOut:
    state = row["state"]
    if state == "open":
        available_at = row["available_at"]
        state = "held" if available_at is not None and available_at > now else "available"
    return EntryOut(
        id=row["id"],
        affiliate_id=row["affiliate_id"],
        currency=row["currency"].strip(),
        kind=row["kind"],
        amount=row["amount"],
        state=state,
        available_at=row["available_at"],
        conversion_id=row["conversion_id"],
        payout_id=row["payout_id"],
        taken_by_payout_id=row["live_payout_id"],
        reverses=row["reverses"],
        reason=row["reason"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


async def balance(
    conn: Executor,
    *,
    affiliate_id: int,
    default_threshold: Decimal,
    at: datetime | None = None,
) -> BalanceOut:
    """Per currency, each figure a sum of the affiliate's entries in that state at `at`
    (default now: the controllable clock of tests)."""
    stored = found(await conn.fetchval(queries.THRESHOLDS, affiliate_id), "affiliate", affiliate_id)
    thresholds = orjson.loads(stored)
    if at is None:
        at = await conn.fetchval(queries.NOW)
    rows = await conn.fetch(queries.BALANCE, affiliate_id, at)
    return BalanceOut(
        affiliate_id=affiliate_id,
        balances=[
            CurrencyBalance(
                currency=r["currency"].strip(),
                pending=r["pending"],
                held=r["held"],
                available=r["available"],
                in_payout=r["in_payout"],
                paid=r["paid"],
                owed_back=r["owed_back"],
                payable=r["available"] - r["owed_back"],
                threshold=threshold_for(thresholds, r["currency"].strip(), default_threshold),
            )
            for r in rows
        ],
    )


async def list_entries(
    conn: Executor,
    *,
    query: LedgerQuery,
    start: datetime | None,
    end: datetime | None,
) -> list[EntryOut]:
    rows = await conn.fetch(queries.LIST_ENTRIES, *query.arguments(), start, end)
    now: datetime = await conn.fetchval(queries.NOW)
    return [entry_out(r, now) for r in rows]


async def add_manual_entry(conn: Executor, *, body: ManualEntryIn, created_by: str) -> EntryOut:
    row = await conn.fetchrow(
        queries.INSERT_MANUAL,
        body.affiliate_id,
        body.currency,
        body.kind,
        body.amount,
        body.reason,
        created_by,
    )
    if row is None:
        raise Conflict(f"affiliate {body.affiliate_id} does not exist", code="invalid_reference")
    return entry_out(
        {**dict(row), "state": "open", "available_at": row["created_at"], "live_payout_id": None},
        row["created_at"],
    )
