"""The ledger's side of a conversion's creation or status change, in its transaction.

app/attribution/writer.py's apply_effects calls `record` once per batch (the stream's
writer and the conversions API's PATCH both go through it): at most three statements
whatever the batch's size, none when no money moves.

A conversion counts (earns its commission) while approved or pending. Entering that from
nothing or from rejected appends a commission; leaving it to rejected appends the
commission's counter entry (a reversal, or a clawback once a payout took it). Approved
and pending move between each other without an entry: a commission's state reads the
conversion's status (the view ledger_entry_states).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from app.db import Connection
from app.ledger import queries

COUNTED = frozenset({"approved", "pending"})
# (conversion row, old status or None for a creation, new status, changed by)
Event = tuple[dict[str, Any], str | None, str, str]


def currency_lock(currency: str) -> int:
    """The advisory lock key payout runs take exclusively and the ledger's writers share."""
    digest = hashlib.blake2b(f"ledger\x1f{currency}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


async def lock_currencies(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Before conversions of an affiliate change (their status moves their commissions'
    balance sums, migration 0069): the currency locks, shared. A payout run, which holds
    them exclusively, then never waits for a sum row such a writer holds while that writer
    waits for the run's lock."""
    currencies = {str(r["currency"]) for r in rows if r.get("affiliate_id") is not None}
    if currencies:
        await conn.fetchval(
            queries.LOCK_CURRENCIES_SHARED, [currency_lock(c) for c in sorted(currencies)]
        )


@dataclass(slots=True)
class Plan:
    """What a batch of events appends: counters first (they cancel what is stored), then
    the commissions the batch leaves counted."""

    closes: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # id: (cur, st, by)
    opens: dict[int, dict[str, Any]] = field(default_factory=dict)
    currencies: set[str] = field(default_factory=set)  # to lock against payout runs


def plan(events: Sequence[Event]) -> Plan:
    """Each conversion's steps in this batch, netted: an entry made and cancelled within
    one batch is neither written (a creation went in with its final status anyway)."""
    steps: dict[int, list[tuple[str, Event]]] = {}
    result = Plan()
    for event in events:
        row, old, new, _ = event
        if row.get("affiliate_id") is None:
            continue
        was, now = old in COUNTED, new in COUNTED
        if old == "approved" and new != "approved":
            # Un-approving: a run must not take the commission meanwhile.
            result.currencies.add(str(row["currency"]))
        if was != now:
            steps.setdefault(int(row["id"]), []).append(("open" if now else "close", event))
        if was or now:
            # Its commission's state moves (the balance sums): not during a payout run.
            result.currencies.add(str(row["currency"]))
    for conversion_id, ops in steps.items():
        first_op, (first_row, _, first_new, first_by) = ops[0]
        if first_op == "close":
            currency = str(first_row["currency"])
            result.closes[conversion_id] = (currency, first_new, first_by)
            result.currencies.add(currency)
        last_op, (row, _, _, by) = ops[-1]
        payout = row.get("payout")
        if last_op == "open" and payout is not None and Decimal(payout) > 0:
            result.opens[conversion_id] = {**row, "changed_by": by}
    return result


async def record(conn: Connection, events: Sequence[Event]) -> None:
    """Append the entries of these conversion events (in the caller's transaction)."""
    batch = plan(events)
    if batch.currencies:
        await conn.fetchval(
            queries.LOCK_CURRENCIES_SHARED, [currency_lock(c) for c in sorted(batch.currencies)]
        )
    if batch.closes:
        ids = sorted(batch.closes)
        await conn.execute(
            queries.INSERT_COUNTERS,
            ids,
            [batch.closes[i][1] for i in ids],
            [batch.closes[i][2] for i in ids],
        )
    if batch.opens:
        rows = [batch.opens[i] for i in sorted(batch.opens)]
        await conn.execute(
            queries.INSERT_COMMISSIONS,
            [r["id"] for r in rows],
            [r["affiliate_id"] for r in rows],
            [r["currency"] for r in rows],
            [r["payout"] for r in rows],
            [r["offer_id"] for r in rows],
            [r["changed_by"] for r in rows],
        )
