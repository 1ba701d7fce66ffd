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
