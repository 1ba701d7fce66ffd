"""app/payouts/service.py: runs, requests, paid and failed, under a clock moved by hand."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import asyncpg
import pytest

from app.db import Pool
from app.errors import Conflict, NotFound
from app.ledger import record
from app.ledger import service as ledger_service
from app.payouts import service
from app.payouts.schemas import PayoutQuery, RunIn
from tests.support.ledger import add_conversion, change_status, double_claims, make_program

T0 = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
FIFTY = Decimal(50)


def days(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


async def _run(pool: Pool, at: dt.datetime, affiliates: list[int] | None = None) -> list[int]:
    """A run as of `at`; the IDs of the affiliates it paid."""
    made = await service.create_run(
        pool,
        body=RunIn(currency="USD", up_to=at.date(), affiliate_ids=affiliates),
        default_threshold=FIFTY,
        created_by="test",
        now=at,
    )
    payouts = await service.list_payouts(
        pool, query=PayoutQuery.model_validate({"limit": 500, "run": made.id})
    )
    return [p.affiliate_id for p in payouts]


async def _balance(pool: Pool, affiliate_id: int, at: dt.datetime) -> dict[str, Decimal]:
    out = await ledger_service.balance(
        pool, affiliate_id=affiliate_id, default_threshold=FIFTY, at=at
    )
    return out.balances[0].model_dump() if out.balances else {}


async def test_nothing_in_hold_is_paid(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=30)
    alice = program["affiliates"][0]
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(60), status="approved", at=T0
    )
    assert await _run(pool, days(29.9)) == []
    with pytest.raises(Conflict, match="below the payout threshold"):
        await service.request_payout(
            pool, affiliate_id=alice, currency="USD", default_threshold=FIFTY, now=days(29.9)
        )
    balance = await _balance(pool, alice, days(29.9))
    assert (balance["held"], balance["available"]) == (Decimal(60), Decimal(0))
    # up_to before the hold ends takes nothing either, whatever the clock says.
    made = await service.create_run(
        pool,
        body=RunIn(currency="USD", up_to=days(20).date()),
        default_threshold=FIFTY,
        created_by="test",
        now=days(40),
    )
    assert made.payouts == 0
    assert await _run(pool, days(30)) == [alice]
    assert (await _balance(pool, alice, days(30)))["in_payout"] == Decimal(60)


async def test_the_threshold_per_currency_and_the_default(pool: Pool) -> None:
    program = await make_program(pool, affiliates=3, hold_days=0)
    low, high, default = program["affiliates"]
    await pool.execute(
        "UPDATE affiliates SET payout_threshold = $2::text::jsonb WHERE id = $1",
        low,
        '{"USD": "5.00"}',
    )
    await pool.execute(
        "UPDATE affiliates SET payout_threshold = $2::text::jsonb WHERE id = $1",
        high,
        '{"USD": "100.00", "EUR": "1.00"}',
    )
    for affiliate in (low, high, default):
        await add_conversion(
            pool, program, affiliate_id=affiliate, payout=Decimal(50), status="approved", at=T0
        )
    assert sorted(await _run(pool, days(1))) == [low, default]


async def test_a_rejection_before_a_payout_reverses(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    alice = program["affiliates"][0]
    conversion = await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(80), status="approved", at=T0
    )
    await change_status(pool, conversion, "rejected", at=T0)
    assert await _run(pool, days(1)) == []
    assert await _balance(pool, alice, days(1)) == {
        "currency": "USD",
        **dict.fromkeys(
            ("pending", "held", "available", "in_payout", "paid", "owed_back", "payable"),
            Decimal(0),
        ),
        "threshold": FIFTY,
    }


async def test_a_refund_after_a_payout_is_clawed_back_once(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    alice = program["affiliates"][0]
    refunded = await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(80), status="approved", at=T0
    )
    assert await _run(pool, days(1)) == [alice]
    (payout,) = await service.list_payouts(
        pool, query=PayoutQuery.model_validate({"limit": 5, "affiliate": alice})
    )
    await service.mark_paid(pool, payout_id=payout.id, reference="PP-1", by="test")
    await change_status(pool, refunded, "rejected", at=days(2))
    await change_status(pool, refunded, "rejected", at=days(2))
    balance = await _balance(pool, alice, days(2))
    assert (balance["paid"], balance["owed_back"], balance["payable"]) == (
        Decimal(80),
        Decimal(80),
        Decimal(-80),
    )
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM ledger_entries ORDER BY id")]
    assert kinds == ["commission", "payout", "clawback"]
    # Later commissions pay the clawback off first: 100 - 80 = 20 is under the threshold.
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(100), status="approved", at=days(3)
    )
    assert await _run(pool, days(4)) == []
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(40), status="approved", at=days(5)
    )
    assert await _run(pool, days(6)) == [alice]
    balance = await _balance(pool, alice, days(6))
    assert (balance["owed_back"], balance["in_payout"], balance["available"]) == (
        Decimal(0),
        Decimal(60),
        Decimal(0),
    )


async def test_a_failed_payout_returns_the_money_and_its_entries(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    alice = program["affiliates"][0]
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(70), status="approved", at=T0
    )
    assert await _run(pool, days(1)) == [alice]
    assert await _run(pool, days(1)) == []  # nothing is taken twice
    (payout,) = await service.list_payouts(
        pool, query=PayoutQuery.model_validate({"limit": 5, "affiliate": alice})
    )
    failed = await service.mark_failed(pool, payout_id=payout.id, reason="bounced", by="test")
    assert failed.status == "failed"
    with pytest.raises(Conflict, match="already failed"):
        await service.mark_paid(pool, payout_id=payout.id, reference="x", by="test")
    with pytest.raises(Conflict, match="already failed"):
        await service.mark_failed(pool, payout_id=payout.id, reason="again", by="test")
    with pytest.raises(NotFound):
        await service.mark_paid(pool, payout_id=999, reference="x", by="test")
    assert (await _balance(pool, alice, days(1)))["available"] == Decimal(70)
    money = await pool.fetch("SELECT amount FROM ledger_entries WHERE kind = 'payout' ORDER BY id")
    assert [r["amount"] for r in money] == [Decimal(-70), Decimal(70)]
    assert await _run(pool, days(2)) == [alice]
    assert await double_claims(pool) == 0


async def test_a_run_refuses_unknown_affiliates_and_changes_nothing(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal(70),
        status="approved",
        at=T0,
    )
    with pytest.raises(Conflict, match="do not exist"):
        await _run(pool, days(1), affiliates=[program["affiliates"][0], 999])
    assert await pool.fetchval("SELECT count(*) FROM payout_runs") == 0
    assert await pool.fetchval("SELECT count(*) FROM payouts") == 0


async def test_a_second_run_at_once_is_refused(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal(70),
        status="approved",
        at=T0,
    )
    async with pool.acquire() as other, other.transaction():
        await other.fetchval("SELECT pg_advisory_xact_lock($1)", service.run_lock("USD"))
        with pytest.raises(Conflict, match="in progress"):
            await _run(pool, days(1))
        with pytest.raises(Conflict, match="in progress"):
            await service.request_payout(
                pool,
                affiliate_id=program["affiliates"][0],
                currency="USD",
                default_threshold=FIFTY,
                now=days(1),
            )
    assert await pool.fetchval("SELECT count(*) FROM payouts") == 0
    assert await _run(pool, days(1)) == program["affiliates"]


async def test_concurrent_runs_never_take_an_entry_twice(pool: Pool) -> None:
    program = await make_program(pool, affiliates=20, hold_days=0)
    for affiliate in program["affiliates"]:
        for _ in range(3):
            await add_conversion(
                pool, program, affiliate_id=affiliate, payout=Decimal(20), status="approved", at=T0
            )
    results = await asyncio.gather(*(_run(pool, days(1)) for _ in range(4)), return_exceptions=True)
    paid: list[int] = []
    for result in results:
        if isinstance(result, BaseException):
            assert isinstance(result, Conflict), result
        else:
            paid += result
    assert sorted(paid) == program["affiliates"]
    assert await double_claims(pool) == 0
    total = await pool.fetchval("SELECT sum(amount) FROM payouts")
    assert total == Decimal(20 * 3 * 20)


async def test_a_rejection_waits_for_a_run_in_progress(pool: Pool) -> None:
    """The rejection's writer shares the currency lock a run holds: it decides reversal or
    clawback only after the run committed (or before it started)."""
    program = await make_program(pool, affiliates=1, hold_days=0)
    conversion = await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal(70),
        status="approved",
        at=T0,
    )
    async with pool.acquire() as run, run.transaction():
        await run.fetchval("SELECT pg_advisory_xact_lock($1)", record.currency_lock("USD"))
        rejecting = asyncio.ensure_future(change_status(pool, conversion, "rejected", at=T0))
        await asyncio.sleep(0.3)
        assert not rejecting.done()
    await rejecting
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM ledger_entries ORDER BY id")]
    assert kinds == ["commission", "reversal"]


async def test_a_payouts_claim_and_money_never_change(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal(70),
        status="approved",
        at=T0,
    )
    await _run(pool, days(1))
    payout_id = await pool.fetchval("SELECT id FROM payouts")
    for change in ("amount = 1", "entry_ids = '{}'", "affiliate_id = affiliate_id + 1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only an unsettled"):
            await pool.execute(f"UPDATE payouts SET {change}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM payouts")
    await service.mark_paid(pool, payout_id=payout_id, reference="r", by="test")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only an unsettled"):
        await pool.execute("UPDATE payouts SET status = 'failed', failure_reason = 'x'")
    assert await pool.fetchval("SELECT status FROM payouts") == "paid"
