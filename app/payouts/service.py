"""Payout runs, requested payouts, and a payout's end (paid or failed).

Every payout is made by one statement (queries.TAKE) under two transaction-scoped
advisory locks per currency: a try-lock that makes a second run or request at once a 409,
then the ledger's currency lock (app/ledger/record.py) exclusively. Entries are claimed,
never edited; a failed payout's money comes back as a new entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg

from app.db import Connection, Executor, Pool
from app.errors import Conflict, NotFound, found
from app.ledger import record as ledger
from app.mail import service as mail_service
from app.money import format_money
from app.partners.payment import PaymentCipher
from app.payouts import payment, queries
from app.payouts.schemas import (
    PayoutOut,
    PayoutQuery,
    PreviewLine,
    PreviewOut,
    RunIn,
    RunOut,
    RunQuery,
    RunStatusTotal,
)
from app.webhooks import events as webhooks

ZERO = Decimal(0)
_EVENT_FIELDS = ("id", "run_id", "affiliate_id", "currency", "amount", "status", "reference")


def run_lock(currency: str) -> int:
    digest = hashlib.blake2b(f"payout-run\x1f{currency}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


def cutoff_of(up_to: dt.date, now: dt.datetime) -> dt.datetime:
    """The end of `up_to` (UTC), or now when that is still to come."""
    if up_to >= now.astimezone(dt.UTC).date():
        return now  # (9999-12-31 has no day after it)
    return dt.datetime(up_to.year, up_to.month, up_to.day, tzinfo=dt.UTC) + dt.timedelta(days=1)


def payout_out(row: asyncpg.Record) -> PayoutOut:
    return PayoutOut(**dict(row))


async def _lock_currency(conn: Connection, currency: str) -> None:
    if not await conn.fetchval(queries.TRY_LOCK, run_lock(currency)):
        raise Conflict(
            f"a payout run or request in {currency} is in progress; try again when it is done",
            code="payout_in_progress",
        )
    await conn.fetchval(queries.LOCK, ledger.currency_lock(currency))


async def create_run(
    pool: Pool,
    *,
    body: RunIn,
    default_threshold: Decimal,
    created_by: str,
    now: dt.datetime | None = None,
) -> RunOut:
    """One payout per affiliate whose payable balance reaches its threshold. `now`: the
    controllable clock of tests (default: the database's)."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_currency(conn, body.currency)
        ids = sorted(set(body.affiliate_ids)) if body.affiliate_ids is not None else None
        if ids is not None:
            found = {r["id"] for r in await conn.fetch(queries.EXISTING_AFFILIATES, ids)}
            missing = [i for i in ids if i not in found]
            if missing:
                raise Conflict(f"affiliates {missing[:20]} do not exist", code="invalid_reference")
        if now is None:
            now = await conn.fetchval(queries.NOW)
        cutoff = cutoff_of(body.up_to, now)
        run = await conn.fetchrow(
            queries.INSERT_RUN, body.currency, body.up_to, cutoff, ids, created_by
        )
        assert run is not None
        made = await conn.fetch(
            queries.TAKE,
            body.currency,
            cutoff,
            ids,
            default_threshold,
            run["id"],
            created_by,
            "pending",
        )
        await _emit_created(conn, [r["id"] for r in made])
        return await _run_out(conn, run)


async def request_payout(
    pool: Pool,
    *,
    affiliate_id: int,
    currency: str,
    default_threshold: Decimal,
    now: dt.datetime | None = None,
) -> PayoutOut:
    """An affiliate's payout of its payable balance now, when that reaches its threshold
    (the admin then pays it). The same selection as a run: nothing in hold, nothing twice."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock_currency(conn, currency)
        if now is None:
            now = await conn.fetchval(queries.NOW)
        made = await conn.fetch(
            queries.TAKE,
            currency,
            now,
            [affiliate_id],
            default_threshold,
            None,
            f"affiliate:{affiliate_id}",
            "requested",
        )
        if not made:
            raise Conflict(
                f"the available {currency} balance is below the payout threshold",
                code="below_threshold",
            )
        row = await conn.fetchrow(queries.GET_PAYOUT, made[0]["id"], affiliate_id)
        assert row is not None
        await _emit(conn, "payout.created", [row])
        return payout_out(row)


async def _emit(conn: Executor, type_: str, rows: list[asyncpg.Record]) -> None:
    """`payout.created` or `payout.paid`, in the transaction of the change: to the
    program's endpoints and the affiliate's own."""
    await webhooks.emit_many(
        conn,
        [
            webhooks.Event(type_, {k: r[k] for k in _EVENT_FIELDS}, affiliate_id=r["affiliate_id"])
            for r in rows
        ],
    )


async def _emit_created(conn: Executor, payout_ids: list[int]) -> None:
    """A run's payouts, read only when an endpoint subscribes."""
    if payout_ids and await webhooks.Subscriptions.read(conn, ["payout.created"]):
        await _emit(conn, "payout.created", await conn.fetch(queries.PAYOUTS_BY_ID, payout_ids))


async def _runs_out(conn: Executor, runs: list[asyncpg.Record]) -> list[RunOut]:
    totals: dict[int, list[asyncpg.Record]] = {r["id"]: [] for r in runs}
    for t in await conn.fetch(queries.RUN_TOTALS, list(totals)):
        totals[t["run_id"]].append(t)
    return [
        RunOut(
            **dict(run),
            payouts=sum(t["payouts"] for t in totals[run["id"]]),
            amount=sum((t["amount"] for t in totals[run["id"]] if t["status"] != "failed"), ZERO),
            by_status=[RunStatusTotal(**dict(t)) for t in totals[run["id"]]],
        )
        for run in runs
    ]


async def _run_out(conn: Executor, run: asyncpg.Record) -> RunOut:
    (out,) = await _runs_out(conn, [run])
    return out


async def get_run(conn: Executor, *, run_id: int) -> RunOut:
    run = found(await conn.fetchrow(queries.GET_RUN, run_id), "payout run", run_id)
    return await _run_out(conn, run)


async def list_runs(conn: Executor, *, query: RunQuery) -> list[RunOut]:
    """Runs newest first (the cursor: the last ID of the page before)."""
    return await _runs_out(conn, await conn.fetch(queries.LIST_RUNS, *query.arguments()))


async def preview_run(
    conn: Executor,
    *,
    body: RunIn,
    default_threshold: Decimal,
    cipher: PaymentCipher | None,
    now: dt.datetime | None = None,
) -> PreviewOut:
    """What `create_run` with this body would pay now, by the same selection (thresholds,
    holds, debits), with each affiliate's payment method; nothing is written or locked."""
    if now is None:
        now = await conn.fetchval(queries.NOW)
    cutoff = cutoff_of(body.up_to, now)
    ids = sorted(set(body.affiliate_ids)) if body.affiliate_ids is not None else None
    day = cutoff.astimezone(dt.UTC).date()
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    rows = await conn.fetch(
        queries.PREVIEW, body.currency, cutoff, ids, default_threshold, day, start
    )
    details = await payment.payment_details(conn, [r["affiliate_id"] for r in rows], cipher)
    lines = [
        PreviewLine(
            **dict(r),
            method=details[r["affiliate_id"]].method if r["affiliate_id"] in details else None,
        )
        for r in rows
    ]
    return PreviewOut(
        currency=body.currency,
        up_to=body.up_to,
        cutoff=cutoff,
        payouts=len(lines),
        amount=sum((line.amount for line in lines), ZERO),
        lines=lines,
    )


async def get_payout(conn: Executor, *, payout_id: int, only_affiliate_id: int | None) -> PayoutOut:
    """`only_affiliate_id`: an affiliate key's own (another's looks like none at all)."""
    row = found(
        await conn.fetchrow(queries.GET_PAYOUT, payout_id, only_affiliate_id), "payout", payout_id
    )
    return payout_out(row)


async def list_payouts(conn: Executor, *, query: PayoutQuery) -> list[PayoutOut]:
    rows = await conn.fetch(*queries.LIST_PAYOUTS.bind(*query.arguments()))
    return [payout_out(r) for r in rows]


async def _settled(conn: Executor, payout_id: int) -> Conflict | NotFound:
    row = await conn.fetchrow(queries.GET_PAYOUT, payout_id, None)
    if row is None:
        return NotFound(f"payout {payout_id} does not exist")
    return Conflict(f"payout {payout_id} is already {row['status']}", code="payout_settled")


@asynccontextmanager
async def _settling(
    pool: Pool, payout_id: int, query: str, *args: str
) -> AsyncIterator[tuple[Connection, asyncpg.Record]]:
    # Settles the payout (paid or failed) in a transaction the caller goes on in; an
    # unknown or settled payout is refused. Its currency's ledger lock, exclusive first
    # (as a run's): the settle restates its entries from their conversions' statuses, so
    # a writer changing one of them (which shares the lock) runs wholly before or after
    # it, never judging the entries by what the other has not committed, and the two
    # never take each other's balance sum rows in opposite orders (a deadlock).
    async with pool.acquire() as conn, conn.transaction():
        currency = await conn.fetchval(queries.PAYOUT_CURRENCY, payout_id)
        if currency is not None:
            await conn.fetchval(queries.LOCK, ledger.currency_lock(currency))
        row = await conn.fetchrow(query, payout_id, *args)
        if row is None:
            raise await _settled(conn, payout_id)
        yield conn, row


async def mark_paid(pool: Pool, *, payout_id: int, reference: str, by: str) -> PayoutOut:
    """Paid: the affiliate hears of it by e-mail (in this transaction's outbox)."""
    async with _settling(pool, payout_id, queries.MARK_PAID, reference, by) as (conn, row):
        await mail_service.notify(
            conn,
            "payout_paid",
            row["affiliate_id"],
            {
                "amount": format_money(row["amount"]),
                "currency": row["currency"],
                "reference": reference,
            },
        )
        await _emit(conn, "payout.paid", [row])
        return payout_out(row)


async def mark_failed(pool: Pool, *, payout_id: int, reason: str, by: str) -> PayoutOut:
    """The payout's entries are free again, and its money back (an entry, never an edit)."""
    async with _settling(pool, payout_id, queries.MARK_FAILED, reason, by) as (conn, row):
        await conn.execute(
            queries.RETURN_MONEY,
            row["affiliate_id"],
            row["currency"],
            row["amount"],
            payout_id,
            f"payout failed: {reason}",
            by,
        )
        return payout_out(row)
