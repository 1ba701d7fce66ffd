"""A payout marked failed while a conversion whose commission it holds changes
status: the balance sums stay the recount of the entries (migration 0069's triggers),
whichever commits first. The settle is held open after its UPDATE (its entry of returned
money waits for a lock another connection holds on the ledger), and the status change is
made meanwhile. (Before the settle took its currency's lock, the change committed
first, judging the entries by the payout that still held them, and the stored state of
one entry was not the view's.)"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from app.attribution import service as attribution_service
from app.db import Pool
from app.payouts import service
from app.payouts.schemas import PayoutOut, RunIn
from tests.ledger.test_balance_sums import STORED_VS_VIEW, SUMS_VS_STORED
from tests.support.ledger import add_conversion, make_program


async def _failed(pool: Pool, payout_id: int) -> PayoutOut:
    return await service.mark_failed(pool, payout_id=payout_id, reason="bank", by="test")


async def _paid_out(pool: Pool) -> tuple[int, int]:
    """A conversion approved 10 days ago and a payout run holding its commission."""
    program = await make_program(pool, affiliates=1, hold_days=2)
    now = await pool.fetchval("SELECT now()")
    conversion = await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal("10"),
        status="approved",
        at=now - dt.timedelta(days=10),
    )
    run = await service.create_run(
        pool,
        body=RunIn(currency="USD", up_to=now.date()),
        default_threshold=Decimal(1),
        created_by="test",
    )
    payout_id = await pool.fetchval("SELECT id FROM payouts WHERE run_id = $1", run.id)
    assert payout_id is not None
    assert await pool.fetchval(STORED_VS_VIEW) == 0
    return conversion, payout_id


@pytest.mark.parametrize("status", ["pending", "rejected"])
async def test_a_status_change_during_a_failed_payout_leaves_the_sums_exact(
    pool: Pool, status: str
) -> None:
    conversion, payout_id = await _paid_out(pool)
    async with pool.acquire() as blocker, blocker.transaction():
        # What the settle writes after its UPDATE waits: the returned money's entry.
        await blocker.execute("LOCK TABLE ledger_entries IN SHARE MODE")
        settling = asyncio.create_task(_failed(pool, payout_id))
        await asyncio.sleep(0.3)  # the settle's UPDATE (and its triggers) ran
        changing = asyncio.create_task(
            attribution_service.change_status(
                pool, conversion_id=conversion, status=status, changed_by="test"
            )
        )
        await asyncio.sleep(0.3)
    await asyncio.wait_for(asyncio.gather(settling, changing), 10)

    assert await pool.fetchval(STORED_VS_VIEW) == 0
    assert await pool.fetchval(SUMS_VS_STORED) == 0


async def test_entries_swapping_days_in_one_restate_move_both_sides_of_the_sums(
    pool: Pool,
) -> None:
    """Two credits and two debits of one affiliate, stored as if each pair's days were the
    other's (sums consistent with that): restated in one call, each day's credit and debit
    move by opposite amounts with their counts unchanged, and both are written."""
    program = await make_program(pool, affiliates=1)
    affiliate = program["affiliates"][0]
    day_1 = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    day_2 = day_1 + dt.timedelta(days=1)
    ids = [
        await pool.fetchval(
            """INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason,
                   created_by, created_at)
               VALUES ($1, 'USD', 'adjustment', $2, 'test', 'test', $3) RETURNING id""",
            affiliate,
            Decimal(amount),
            at,
        )
        for amount, at in (("10", day_1), ("-5", day_1), ("15", day_2), ("-10", day_2))
    ]
    assert await pool.fetchval(STORED_VS_VIEW) == 0
    swapped = {ids[0]: day_2, ids[1]: day_2, ids[2]: day_1, ids[3]: day_1}
    async with pool.acquire() as conn, conn.transaction():
        for entry_id, at in swapped.items():
            await conn.execute(
                "UPDATE ledger_entry_balances SET available_at = $2 WHERE entry_id = $1",
                entry_id,
                at,
            )
        await conn.execute("DELETE FROM ledger_balance_days WHERE affiliate_id = $1", affiliate)
        await conn.execute(
            """INSERT INTO ledger_balance_days
                   (affiliate_id, currency, state, day, credit, debit, credits, debits)
               SELECT affiliate_id, currency, state, ledger_balance_day(state, available_at),
                      coalesce(sum(amount) FILTER (WHERE amount > 0), 0),
                      coalesce(sum(amount) FILTER (WHERE amount < 0), 0),
                      count(*) FILTER (WHERE amount > 0), count(*) FILTER (WHERE amount < 0)
               FROM ledger_entry_balances WHERE affiliate_id = $1 GROUP BY 1, 2, 3, 4""",
            affiliate,
        )
    assert await pool.fetchval(SUMS_VS_STORED) == 0
    assert await pool.fetchval(STORED_VS_VIEW) == 4

    await pool.execute("SELECT ledger_restate($1::bigint[], NULL, NULL)", ids)

    assert await pool.fetchval(STORED_VS_VIEW) == 0
    assert await pool.fetchval(SUMS_VS_STORED) == 0
