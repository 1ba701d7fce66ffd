"""app/ledger/record.py: what conversion events append, in the conversion's transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from app.db import Pool
from app.ledger import record
from app.settings import Settings
from tests.support.conversions import click, postback, run_worker
from tests.support.ledger import add_conversion, change_status, entries, make_program

NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def _row(conversion_id: int, payout: str = "2.50", affiliate_id: int | None = 7) -> dict[str, Any]:
    return {
        "id": conversion_id,
        "affiliate_id": affiliate_id,
        "currency": "USD",
        "payout": Decimal(payout),
        "offer_id": 1,
    }


def test_a_creation_counted_opens_a_commission() -> None:
    plan = record.plan([(_row(1), None, "pending", "w"), (_row(2), None, "approved", "w")])
    assert sorted(plan.opens) == [1, 2]
    assert not plan.closes
    # (a new commission moves the balance sums: the currency lock, shared)
    assert plan.currencies == {"USD"}
    assert not record.plan([(_row(1), None, "rejected", "w")]).currencies


def test_rejected_unattributed_and_zero_payout_creations_write_nothing() -> None:
    plan = record.plan(
        [
            (_row(1), None, "rejected", "w"),
            (_row(2, affiliate_id=None), None, "unattributed", "w"),
            (_row(3, payout="0"), None, "approved", "w"),
        ]
    )
    assert not plan.opens
    assert not plan.closes


def test_steps_within_a_batch_net_out() -> None:
    row = _row(1)
    made_and_rejected = record.plan(
        [(row, None, "pending", "w"), (row, "pending", "rejected", "w")]
    )
    assert not made_and_rejected.opens
    assert not made_and_rejected.closes
    rejected_and_back = record.plan(
        [(row, "approved", "rejected", "a"), (row, "rejected", "approved", "b")]
    )
    assert rejected_and_back.closes == {1: ("USD", "rejected", "a")}
    assert list(rejected_and_back.opens) == [1]
    assert rejected_and_back.currencies == {"USD"}


def test_approved_to_pending_locks_but_writes_nothing() -> None:
    plan = record.plan([(_row(1), "approved", "pending", "w")])
    assert not plan.opens
    assert not plan.closes
    assert plan.currencies == {"USD"}
    # An approval writes nothing either, and moves the sums (pending to open): locked too.
    assert record.plan([(_row(1), "pending", "approved", "w")]).currencies == {"USD"}
    assert not record.plan([(_row(1), "rejected", "unattributed", "w")]).currencies


async def test_entries_refuse_update_and_delete(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1)
    await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal("2.50"),
        status="approved",
        at=NOW,
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute("UPDATE ledger_entries SET amount = 100")
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await pool.execute("DELETE FROM ledger_entries")
    assert [r["amount"] for r in await entries(pool)] == [Decimal("2.50")]


async def test_rejection_reverses_and_reapproval_appends_a_new_commission(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1)
    conversion = await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal("2.50"),
        status="pending",
        at=NOW,
    )
    await change_status(pool, conversion, "approved", at=NOW)
    await change_status(pool, conversion, "rejected", at=NOW)
    await change_status(pool, conversion, "rejected", at=NOW)  # no change, nothing appended
    await change_status(pool, conversion, "approved", at=NOW)
    rows = await entries(pool)
    assert [(r["kind"], r["amount"]) for r in rows] == [
        ("commission", Decimal("2.50")),
        ("reversal", Decimal("-2.50")),
        ("commission", Decimal("2.50")),
    ]
    assert rows[1]["reverses"] == rows[0]["id"]
    assert rows[0]["hold_days"] == 30


async def test_the_hold_is_the_offers_when_the_commission_is_written(pool: Pool) -> None:
    program = await make_program(pool, affiliates=1, hold_days=7)
    await add_conversion(
        pool,
        program,
        affiliate_id=program["affiliates"][0],
        payout=Decimal("1.00"),
        status="approved",
        at=NOW,
    )
    await pool.execute("UPDATE offers SET hold_days = 0")
    assert [r["hold_days"] for r in await entries(pool)] == [7]


async def test_the_stream_writer_records_commissions_in_its_batch(
    app: Any, client: httpx.AsyncClient, shop: dict[str, Any], settings: Settings, pool: Pool
) -> None:
    """Through the real pipeline: redirect, postback, worker; a status-changing postback."""
    clicks = [await click(app, client, shop["alice_link"]["code"]) for _ in range(3)]
    for i, click_id in enumerate(clicks):
        response = await postback(
            client, shop["token"], click_id=click_id, txid=f"o{i}", status="pending"
        )
        assert response.status_code == 200
    await run_worker(settings)
    await postback(client, shop["token"], click_id=clicks[0], txid="o0", status="rejected")
    await postback(client, shop["token"], click_id=clicks[1], txid="o1", status="approved")
    await run_worker(settings)
    rows = await entries(pool)
    conversions = {r["txid"]: r["id"] for r in await pool.fetch("SELECT id, txid FROM conversions")}
    assert sorted((r["conversion_id"], r["kind"], r["amount"]) for r in rows) == sorted(
        [
            (conversions["o0"], "commission", Decimal("2.50")),
            (conversions["o0"], "reversal", Decimal("-2.50")),
            (conversions["o1"], "commission", Decimal("2.50")),
            (conversions["o2"], "commission", Decimal("2.50")),
        ]
    )
    assert {r["affiliate_id"] for r in rows} == {shop["alice"]["id"]}
