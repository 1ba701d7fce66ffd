"""The ledger's reads and its manual entries (bonus, adjustment). Conversions append
their own entries (app/ledger/record.py); payouts theirs (app/payouts)."""

from __future__ import annotations

from datetime import UTC, datetime
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
    return EntryOut.model_validate(
        {
            **row,
            "currency": row["currency"].strip(),
            "state": state,
            "taken_by_payout_id": row["live_payout_id"],
        }
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
    (one,) = await _balances(conn, {affiliate_id: stored}, default_threshold, at)
    return one


async def balances(
    conn: Executor,
    *,
    among: list[int] | None,
    after: int,
    limit: int,
    default_threshold: Decimal,
) -> list[BalanceOut]:
    """A page (by ID, after `after`) of the balances of the affiliates with entries, each
    as `balance` has it; `among`: only these affiliates (a manager's)."""
    rows = await conn.fetch(queries.WITH_ENTRIES, after, limit, among)
    return await _balances(conn, {r["id"]: r["thresholds"] for r in rows}, default_threshold, None)


async def _balances(
    conn: Executor, stored: dict[int, str], default_threshold: Decimal, at: datetime | None
) -> list[BalanceOut]:
    if at is None:
        at = await conn.fetchval(queries.NOW)
    day = at.astimezone(UTC).date()
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = await conn.fetch(queries.BALANCE, list(stored), at, day, start)
    out = {a: BalanceOut(affiliate_id=a, balances=[]) for a in stored}
    for r in rows:
        currency = r["currency"].strip()
        thresholds = orjson.loads(stored[r["affiliate_id"]])
        out[r["affiliate_id"]].balances.append(
            CurrencyBalance.model_validate(
                {
                    **r,
                    "currency": currency,
                    "payable": r["available"] - r["owed_back"],
                    "threshold": threshold_for(thresholds, currency, default_threshold),
                }
            )
        )
    return list(out.values())


async def list_entries(
    conn: Executor,
    *,
    query: LedgerQuery,
    start: datetime | None,
    end: datetime | None,
) -> list[EntryOut]:
    rows = await conn.fetch(*queries.LIST_ENTRIES.bind(*query.arguments(), start, end))
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
