"""Random histories against a brute-force model of who is owed what.

Conversions approved, pending and rejected (before and after their hold, before and
after a payout), re-approved; bonuses and negative adjustments; runs and concurrent runs;
requests; payouts paid and failed; the clock moved past holds. After every history: each
affiliate's balance is the model's, the payouts are the model's, no entry is in two live
payouts, and no cent is created or lost (the balance recounts the conversions).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.db import Pool
from app.errors import Conflict
from app.ledger import service as ledger_service
from app.payouts import service
from app.payouts.schemas import PayoutQuery, RunIn
from tests.support.ledger import (
    add_conversion,
    change_status,
    double_claims,
    make_program,
    totals_kept_and_counted,
)

HOLD = 10
DEFAULT_THRESHOLD = Decimal(30)
AFFILIATES = 3
COUNTED = ("approved", "pending")


@dataclass
class Item:
    """One entry of the model: a commission, clawback or bonus."""

    kind: str
    affiliate: int
    amount: Decimal
    conversion: int | None = None
    taken_by: int | None = None  # model payout index, while that payout is live
    cancelled: bool = False
    clawed: bool = False


@dataclass
class Conversion:
    affiliate: int
    amount: Decimal
    status: str
    approved_at: dt.datetime | None
    item: Item | None = None  # its commission not cancelled yet


@dataclass
class Payout:
    affiliate: int
    amount: Decimal
    status: str
    items: list[Item]
    db_id: int = 0


@dataclass
class Model:
    thresholds: dict[int, Decimal]
    now: dt.datetime
    conversions: list[Conversion] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    payouts: list[Payout] = field(default_factory=list)

    def commission(self, index: int) -> None:
        c = self.conversions[index]
        c.item = Item("commission", c.affiliate, c.amount, conversion=index)
        self.items.append(c.item)

    def available(self, item: Item) -> bool:
        if item.kind != "commission" or item.clawed:
            return True
        c = self.conversions[item.conversion or 0]
        return (
            not item.cancelled
            and c.status == "approved"
            and c.approved_at is not None
            and c.approved_at + dt.timedelta(days=HOLD) <= self.now
        )

    def set_status(self, index: int, status: str) -> None:
        c = self.conversions[index]
        if status == c.status:
            return
        if c.status in COUNTED and status == "rejected":
            assert c.item is not None
            taken = c.item.taken_by is not None
            if taken:
                c.item.clawed = True
                self.items.append(Item("clawback", c.affiliate, -c.amount, conversion=index))
            else:
                c.item.cancelled = True
            c.item = None
        c.approved_at = self.now if status == "approved" else None
        was = c.status
        c.status = status
        if was == "rejected":
            self.commission(index)

    def run(self, affiliates: list[int], status: str) -> list[Payout]:
        made = []
        for a in affiliates:
            takeable = [
                i
                for i in self.items
                if i.affiliate == a and i.taken_by is None and not i.cancelled and self.available(i)
            ]
            total = sum((i.amount for i in takeable), Decimal(0))
            if total > 0 and total >= self.thresholds.get(a, DEFAULT_THRESHOLD):
                payout = Payout(a, total, status, takeable)
                for i in takeable:
                    i.taken_by = len(self.payouts)
                self.payouts.append(payout)
                made.append(payout)
        return made

    def fail(self, payout: Payout) -> None:
        payout.status = "failed"
        for i in payout.items:
            i.taken_by = None

    def balance(self, affiliate: int) -> dict[str, Decimal]:
        sums = dict.fromkeys(
            ("pending", "held", "available", "in_payout", "paid", "owed_back"), Decimal(0)
        )
        for i in self.items:
            if i.affiliate != affiliate or i.cancelled:
                continue
            if i.taken_by is not None:
                state = "paid" if self.payouts[i.taken_by].status == "paid" else "in_payout"
                sums[state] += i.amount
            elif i.kind == "clawback":
                sums["owed_back"] -= i.amount
            elif i.kind == "commission" and not i.clawed:
                c = self.conversions[i.conversion or 0]
                if c.status == "pending":
                    sums["pending"] += i.amount
                else:
                    sums["available" if self.available(i) else "held"] += i.amount
            else:
                sums["available"] += i.amount
        return sums


amounts = st.integers(min_value=1, max_value=6000).map(lambda cents: Decimal(cents) / 100)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("convert"), st.integers(0, AFFILIATES - 1), amounts, st.sampled_from(COUNTED)
        ),
        st.tuples(
            st.just("status"),
            st.integers(0, 50),
            st.sampled_from(("approved", "pending", "rejected")),
        ),
        st.tuples(st.just("bonus"), st.integers(0, AFFILIATES - 1), amounts, st.booleans()),
        st.tuples(st.just("advance"), st.sampled_from((1, 9, 11))),
        st.tuples(st.just("run"), st.booleans()),
        st.tuples(st.just("request"), st.integers(0, AFFILIATES - 1)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.sampled_from(("paid", "failed"))),
    ),
    max_size=30,
)


async def _check_made(pool: Pool, made: list[Payout], db: list[Any]) -> None:
    assert sorted((p.affiliate_id, p.amount, p.status) for p in db) == sorted(
        (m.affiliate, m.amount, m.status) for m in made
    )
    by_affiliate = {p.affiliate_id: p.id for p in db}
    for m in made:
        m.db_id = by_affiliate[m.affiliate]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=steps)
# A refund after a payout (clawed back, netted by the next one), then the payout failing.
@example(
    history=[
        ("convert", 0, Decimal(40), "approved"),
        ("advance", 11),
        ("run", False),
        ("settle", 0, "paid"),
        ("status", 0, "rejected"),
        ("convert", 0, Decimal(60), "approved"),
        ("advance", 11),
        ("run", True),
        ("settle", 1, "failed"),
        ("request", 0),
    ]
)
# Rejected within the hold and after it, before any payout; re-approved; a bonus.
@example(
    history=[
        ("convert", 1, Decimal(35), "pending"),
        ("convert", 1, Decimal(35), "approved"),
        ("status", 0, "approved"),
        ("status", 1, "rejected"),
        ("advance", 11),
        ("status", 0, "rejected"),
        ("status", 0, "approved"),
        ("bonus", 1, Decimal(31), False),
        ("run", False),
        ("advance", 11),
        ("run", False),
    ]
)
async def test_random_histories_match_the_model(pool: Pool, history: list[tuple[Any, ...]]) -> None:
    program = await make_program(pool, affiliates=AFFILIATES, hold_days=HOLD)
    ids: list[int] = program["affiliates"]
    first = ids[0]
    await pool.execute(
        'UPDATE affiliates SET payout_threshold = \'{"USD": "5.00"}\' WHERE id = $1', first
    )
    start: dt.datetime = await pool.fetchval("SELECT now()") + dt.timedelta(days=1)
    model = Model(thresholds={first: Decimal(5)}, now=start)
    db_conversions: list[int] = []

    async def run(affiliates: list[int]) -> list[Any]:
        made = await service.create_run(
            pool,
            body=RunIn(currency="USD", up_to=model.now.date(), affiliate_ids=affiliates),
            default_threshold=DEFAULT_THRESHOLD,
            created_by="test",
            now=model.now,
        )
        return await service.list_payouts(
            pool, query=PayoutQuery.model_validate({"limit": 500, "run": made.id})
        )

    for step in history:
        match step:
            case ("convert", who, amount, status):
                db_conversions.append(
                    await add_conversion(
                        pool,
                        program,
                        affiliate_id=ids[who],
                        payout=amount,
                        status=status,
                        at=model.now,
                    )
                )
                model.conversions.append(
                    Conversion(
                        ids[who], amount, status, model.now if status == "approved" else None
                    )
                )
                model.commission(len(model.conversions) - 1)
            case ("status", index, status) if model.conversions:
                index %= len(model.conversions)
                await change_status(pool, db_conversions[index], status, at=model.now)
                model.set_status(index, status)
            case ("bonus", who, amount, negative):
                amount = -amount if negative else amount
                await pool.execute(
                    """INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason,
                           created_by) VALUES ($1, 'USD', 'adjustment', $2, 'test', 'test')""",
                    ids[who],
                    amount,
                )
                model.items.append(Item("adjustment", ids[who], amount))
            case ("advance", n):
                model.now += dt.timedelta(days=n)
            case ("run", concurrent):
                results = await asyncio.gather(
                    *(run(ids) for _ in range(2 if concurrent else 1)), return_exceptions=True
                )
                db = []
                for result in results:
                    if isinstance(result, BaseException):
                        assert isinstance(result, Conflict), result
                    else:
                        db += result
                await _check_made(pool, model.run(ids, "pending"), db)
            case ("request", who):
                expected = model.run([ids[who]], "requested")
                try:
                    made = await service.request_payout(
                        pool,
                        affiliate_id=ids[who],
                        currency="USD",
                        default_threshold=DEFAULT_THRESHOLD,
                        now=model.now,
                    )
                except Conflict:
                    assert expected == []
                else:
                    await _check_made(pool, expected, [made])
            case ("settle", index, outcome) if model.payouts:
                payout = model.payouts[index % len(model.payouts)]
                try:
                    if outcome == "paid":
                        await service.mark_paid(pool, payout_id=payout.db_id, reference="r", by="t")
                    else:
                        await service.mark_failed(pool, payout_id=payout.db_id, reason="r", by="t")
                except Conflict:
                    assert payout.status in ("paid", "failed")
                else:
                    assert payout.status in ("pending", "requested")
                    if outcome == "paid":
                        payout.status = "paid"
                    else:
                        model.fail(payout)

    assert await double_claims(pool) == 0
    for affiliate in ids:
        await _check_balance(pool, model, affiliate)
    kept, counted = await totals_kept_and_counted(pool)
    assert kept == counted
    for payout in await pool.fetch("SELECT id, amount FROM payouts"):
        assert sum(a for (p, _), (a, _) in kept.items() if p == payout["id"]) == payout["amount"]


EARNED = """
SELECT (SELECT coalesce(sum(payout), 0) FROM conversions
        WHERE affiliate_id = $1 AND status IN ('approved', 'pending'))
     + (SELECT coalesce(sum(amount), 0) FROM ledger_entries
        WHERE affiliate_id = $1 AND kind = 'adjustment')
"""
LIVE_PAYOUTS = """
SELECT coalesce(sum(amount), 0) FROM payouts WHERE affiliate_id = $1 AND status <> 'failed'
"""
LEDGER_SUM = "SELECT coalesce(sum(amount), 0) FROM ledger_entries WHERE affiliate_id = $1"


async def _check_balance(pool: Pool, model: Model, affiliate: int) -> None:
    """The balance is the model's, and no cent was created or lost: what is owed plus what
    left is what the conversions that count now and the adjustments earned (recounted from
    the raw rows), and the ledger's sum is that less the live payouts."""
    expected = model.balance(affiliate)
    out = await ledger_service.balance(
        pool, affiliate_id=affiliate, default_threshold=DEFAULT_THRESHOLD, at=model.now
    )
    if not out.balances:
        assert not any(expected.values()), expected
        return
    b = out.balances[0]
    assert {k: v for k, v in b.model_dump().items() if k in expected} == expected
    earned = sum(
        (c.amount for c in model.conversions if c.affiliate == affiliate and c.status in COUNTED),
        Decimal(0),
    ) + sum(
        (i.amount for i in model.items if i.affiliate == affiliate and i.kind == "adjustment"),
        Decimal(0),
    )
    assert await pool.fetchval(EARNED, affiliate) == earned
    assert b.pending + b.held + b.available - b.owed_back + b.in_payout + b.paid == earned
    live = await pool.fetchval(LIVE_PAYOUTS, affiliate)
    assert b.in_payout + b.paid == live
    assert await pool.fetchval(LEDGER_SUM, affiliate) == earned - live
