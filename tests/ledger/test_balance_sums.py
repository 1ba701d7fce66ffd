"""The balance sums (migration 0069) against a brute-force recount of the ledger.

Random histories of commissions (approved, pending), rejections before and after a
payout (reversals, clawbacks), re-approvals, adjustments both ways, runs, requests,
payouts paid and failed, and a clock moved by hours and days so that holds end on the
day read from raw rows, before it and after it. After every step: each entry's stored
state is the view's, the sums per state and day are those of the stored states, and at
several moments each balance and each run's preview is what the view's every entry says.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.db import Pool
from app.errors import Conflict
from app.ledger import queries as ledger_queries
from app.ledger import service as ledger_service
from app.payouts import service
from app.payouts.schemas import RunIn
from tests.support.ledger import add_conversion, change_status, make_program

HOLD = 2
THRESHOLD = Decimal(1)
AFFILIATES = 2

# The balance as migration 0025 read it: every entry's state from the view.
RECOUNT = """
SELECT affiliate_id, currency,
       coalesce(sum(amount) FILTER (WHERE state = 'pending'), 0) AS pending,
       coalesce(sum(amount) FILTER (WHERE state = 'open' AND available_at > $2), 0) AS held,
       coalesce(sum(amount) FILTER (WHERE state = 'open' AND available_at <= $2), 0)
           AS available,
       coalesce(sum(amount) FILTER (WHERE state = 'in_payout'), 0) AS in_payout,
       coalesce(sum(amount) FILTER (WHERE state = 'paid'), 0) AS paid,
       coalesce(-sum(amount) FILTER (WHERE state = 'owed_back'), 0) AS owed_back
FROM ledger_entry_states
WHERE affiliate_id = ANY($1::bigint[])
GROUP BY affiliate_id, currency ORDER BY affiliate_id, currency
"""
# What a run takes, as the run's own statement selects it (queries._DUE) from the view.
RECOUNT_DUE = """
SELECT s.affiliate_id, sum(s.amount) AS amount, min(s.created_at) AS first,
       count(*) AS entries
FROM ledger_entry_states s JOIN affiliates a ON a.id = s.affiliate_id
WHERE s.currency = $1 AND s.state IN ('open', 'owed_back')
  AND (s.available_at <= $2 OR s.amount < 0)
GROUP BY s.affiliate_id, a.payout_threshold
HAVING sum(s.amount) > 0
   AND sum(s.amount) >= coalesce((a.payout_threshold ->> $1)::numeric, $3::numeric)
ORDER BY s.affiliate_id
"""
# Each entry's stored state is the view's (when it becomes payable: for open ones).
STORED_VS_VIEW = """
SELECT count(*) FROM (
    SELECT id, affiliate_id, currency, state, amount, created_at,
           CASE WHEN state = 'open' THEN available_at END AS payable_at, live_payout_id
    FROM ledger_entry_states WHERE state NOT IN ('payout', 'cancelled')
) s FULL JOIN (
    SELECT entry_id AS id, affiliate_id, currency, state, amount, created_at,
           CASE WHEN state = 'open' THEN available_at END AS payable_at, live_payout_id
    FROM ledger_entry_balances
) b USING (id)
WHERE (s.affiliate_id, s.currency, s.state, s.amount, s.created_at, s.payable_at,
       s.live_payout_id)
    IS DISTINCT FROM (b.affiliate_id, b.currency, b.state, b.amount, b.created_at,
                      b.payable_at, b.live_payout_id)
"""
# Every entry as the ledger's list gives it, and as the view has it.
LISTED_VS_VIEW = f"""
SELECT count(*) FROM (SELECT {ledger_queries.ENTRY_COLUMNS} FROM ledger_entry_states) v
FULL JOIN (SELECT {ledger_queries.ENTRY_COLUMNS} FROM {ledger_queries.ENTRY_STATES}) l
USING (id)
WHERE (v.state, v.available_at, v.live_payout_id, v.amount, v.kind)
    IS DISTINCT FROM (l.state, l.available_at, l.live_payout_id, l.amount, l.kind)
"""
SUMS_VS_STORED = """
SELECT count(*) FROM (
    SELECT affiliate_id, currency, state, day, credit, debit, credits, debits
    FROM ledger_balance_days WHERE credits <> 0 OR debits <> 0 OR credit <> 0 OR debit <> 0
) d
FULL JOIN (
    SELECT affiliate_id, currency, state, ledger_balance_day(state, available_at) AS day,
           coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS credit,
           coalesce(sum(amount) FILTER (WHERE amount < 0), 0) AS debit,
           count(*) FILTER (WHERE amount > 0) AS credits,
           count(*) FILTER (WHERE amount < 0) AS debits
    FROM ledger_entry_balances GROUP BY 1, 2, 3, 4
) s USING (affiliate_id, currency, state, day)
WHERE (d.credit, d.debit, d.credits, d.debits) IS DISTINCT FROM
      (s.credit, s.debit, s.credits, s.debits)
"""

amounts = st.integers(min_value=1, max_value=5000).map(lambda cents: Decimal(cents) / 100)
steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("convert"),
            st.integers(0, AFFILIATES - 1),
            amounts,
            st.sampled_from(("approved", "pending")),
        ),
        st.tuples(
            st.just("status"),
            st.integers(0, 30),
            st.sampled_from(("approved", "pending", "rejected")),
        ),
        st.tuples(st.just("adjust"), st.integers(0, AFFILIATES - 1), amounts, st.booleans()),
        st.tuples(st.just("advance"), st.sampled_from((1, 5, 11, 23, 25, 47, 49))),
        st.tuples(st.just("run"), st.sampled_from((-1, 0, 1))),
        st.tuples(st.just("request"), st.integers(0, AFFILIATES - 1)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.sampled_from(("paid", "failed"))),
    ),
    max_size=25,
)


async def _check(pool: Pool, ids: list[int], now: dt.datetime, *, every: bool) -> None:
    assert await pool.fetchval(STORED_VS_VIEW) == 0
    assert await pool.fetchval(SUMS_VS_STORED) == 0
    assert await pool.fetchval(LISTED_VS_VIEW) == 0
    # Moments around now (the day read from raw rows, days before it and after it), and
    # with `every` each entry's own moment and the one just before.
    moments = {now, now - dt.timedelta(days=1), now + dt.timedelta(hours=30)}
    if every:
        for r in await pool.fetch(
            "SELECT DISTINCT available_at FROM ledger_entry_states WHERE available_at IS NOT NULL"
        ):
            moments |= {r[0], r[0] - dt.timedelta(microseconds=1)}
    for at in sorted(moments):
        recount = {
            (r["affiliate_id"], r["currency"].strip()): r
            for r in await pool.fetch(RECOUNT, ids, at)
        }
        for affiliate in ids:
            out = await ledger_service.balance(
                pool, affiliate_id=affiliate, default_threshold=THRESHOLD, at=at
            )
            got = {
                (affiliate, b.currency): {
                    k: v for k, v in b.model_dump().items() if k in recount_keys
                }
                for b in out.balances
            }
            want = {
                key: {k: r[k] for k in recount_keys}
                for key, r in recount.items()
                if key[0] == affiliate
            }
            assert got == want, at
        page = await ledger_service.balances(
            pool, among=ids, after=0, limit=10, default_threshold=THRESHOLD
        )
        assert sorted(b.affiliate_id for b in page) == sorted(a for a, _ in recount)
        due = await pool.fetch(RECOUNT_DUE, "USD", at, THRESHOLD)
        preview = await service.preview_run(
            pool,
            body=RunIn(currency="USD", up_to=dt.date(9999, 12, 31)),
            default_threshold=THRESHOLD,
            cipher=None,
            now=at,
        )
        assert [
            (line.affiliate_id, line.amount, line.entries, line.period_start)
            for line in preview.lines
        ] == [(r["affiliate_id"], r["amount"], r["entries"], min(r["first"], at)) for r in due]


recount_keys = ("pending", "held", "available", "in_payout", "paid", "owed_back")


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=steps)
# Paid, refunded (a clawback), the payout failing: the commission open again as of the
# clawback, netted by it; a negative adjustment taken whatever its day.
@example(
    history=[
        ("convert", 0, Decimal(40), "approved"),
        ("advance", 49),
        ("run", 0),
        ("status", 0, "rejected"),
        ("adjust", 0, Decimal(3), True),
        ("settle", 0, "failed"),
        ("convert", 0, Decimal(7), "pending"),
        ("status", 1, "approved"),
        ("advance", 47),
        ("request", 0),
        ("settle", 1, "paid"),
    ]
)
@pytest.mark.timeout(600)
async def test_balances_and_previews_are_the_recount_of_every_entry(
    pool: Pool, history: list[tuple[Any, ...]]
) -> None:
    program = await make_program(pool, affiliates=AFFILIATES, hold_days=HOLD)
    ids: list[int] = program["affiliates"]
    now: dt.datetime = await pool.fetchval("SELECT now()") + dt.timedelta(days=1)
    conversions: list[int] = []
    payouts: list[int] = []
    for step in history:
        match step:
            case ("convert", who, amount, status):
                conversions.append(
                    await add_conversion(
                        pool, program, affiliate_id=ids[who], payout=amount, status=status, at=now
                    )
                )
            case ("status", index, status) if conversions:
                await change_status(pool, conversions[index % len(conversions)], status, at=now)
            case ("adjust", who, amount, negative):
                await pool.execute(
                    """INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason,
                           created_by, created_at) VALUES ($1, 'USD', 'adjustment', $2, 'test',
                           'test', $3)""",
                    ids[who],
                    -amount if negative else amount,
                    now,
                )
            case ("advance", hours):
                now += dt.timedelta(hours=hours)
            case ("run", days):
                up_to = (now + dt.timedelta(days=days)).date()
                run = await service.create_run(
                    pool,
                    body=RunIn(currency="USD", up_to=up_to),
                    default_threshold=THRESHOLD,
                    created_by="test",
                    now=now,
                )
                payouts += [
                    r["id"]
                    for r in await pool.fetch(
                        "SELECT id FROM payouts WHERE run_id = $1 ORDER BY id", run.id
                    )
                ]
            case ("request", who):
                try:
                    made = await service.request_payout(
                        pool,
                        affiliate_id=ids[who],
                        currency="USD",
                        default_threshold=THRESHOLD,
                        now=now,
                    )
                except Conflict:
                    pass
                else:
                    payouts.append(made.id)
            case ("settle", index, outcome) if payouts:
                payout_id = payouts[index % len(payouts)]
                try:
                    if outcome == "paid":
                        await service.mark_paid(pool, payout_id=payout_id, reference="r", by="t")
                    else:
                        await service.mark_failed(pool, payout_id=payout_id, reason="r", by="t")
                except Conflict:
                    pass
        await _check(pool, ids, now, every=False)
    await _check(pool, ids, now, every=True)
