"""payout.created and payout.paid (app/payouts/service.py): one event per payout, in the
transaction that makes or pays it, to the program and to that affiliate only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.db import Pool
from app.payouts import service
from app.payouts.schemas import PayoutQuery, RunIn
from tests.support.ledger import add_conversion, make_program
from tests.support.webhooks import subscribe, told

T0 = dt.datetime(2026, 10, 1, 12, tzinfo=dt.UTC)
PAYOUTS = ["payout.created", "payout.paid"]


async def test_a_run_tells_each_payout_once_and_paying_tells_it_again(pool: Pool) -> None:
    program = await make_program(pool, affiliates=3, hold_days=0)
    alice, bob, carol = program["affiliates"]
    for affiliate_id, payout in ((alice, 70), (bob, 80), (carol, 10)):  # carol: below 50
        await add_conversion(
            pool,
            program,
            affiliate_id=affiliate_id,
            payout=Decimal(payout),
            status="approved",
            at=T0,
        )
    everything = await subscribe(pool, PAYOUTS)
    of_alice = await subscribe(pool, PAYOUTS, affiliate_id=alice)
    of_carol = await subscribe(pool, PAYOUTS, affiliate_id=carol)
    at = T0 + dt.timedelta(days=1)
    run = await service.create_run(
        pool,
        body=RunIn(currency="USD", up_to=at.date()),
        default_threshold=Decimal(50),
        created_by="test",
        now=at,
    )
    payouts = await service.list_payouts(
        pool, query=PayoutQuery.model_validate({"limit": 10, "run": run.id})
    )
    by_affiliate = {p.affiliate_id: p for p in payouts}
    created = await told(pool, "payout.created")
    assert sorted((w, d["affiliate_id"]) for w, d in created) == sorted(
        [(everything, alice), (everything, bob), (of_alice, alice)]
    )
    assert [d for w, d in created if w == of_alice] == [
        {
            "id": by_affiliate[alice].id,
            "run_id": run.id,
            "affiliate_id": alice,
            "currency": "USD",
            "amount": "70.00",
            "status": "pending",
            "reference": None,
        }
    ]
    assert of_carol not in {w for w, _ in created}

    await service.mark_paid(pool, payout_id=by_affiliate[alice].id, reference="SEPA-1", by="t")
    paid = await told(pool, "payout.paid")
    assert [(w, d["id"], d["status"], d["reference"]) for w, d in paid] == [
        (everything, by_affiliate[alice].id, "paid", "SEPA-1"),
        (of_alice, by_affiliate[alice].id, "paid", "SEPA-1"),
    ]
    assert len(await told(pool, "payout.created")) == 3  # paying made no new `created`


async def test_a_request_is_told_to_its_affiliate(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=0)
    (alice,) = program["affiliates"]
    await add_conversion(
        pool, program, affiliate_id=alice, payout=Decimal(60), status="approved", at=T0
    )
    of_alice = await subscribe(pool, ["payout.created"], affiliate_id=alice)
    made = await service.request_payout(
        pool,
        affiliate_id=alice,
        currency="USD",
        default_threshold=Decimal(50),
        now=T0 + dt.timedelta(days=1),
    )
    [(webhook, data)] = await told(pool, "payout.created")
    assert (webhook, data["id"], data["status"], data["run_id"]) == (
        of_alice,
        made.id,
        "requested",
        None,
    )
