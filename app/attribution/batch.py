"""A batch's decisions, taken in stream order: what its one transaction will write."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.attribution.decision import TOUCHES, UNCHANGED, Candidate, Kind, Quota, decide, settle
from app.attribution.rules import Row
from app.postbacks.records import ConversionRecord

Key = tuple[int, str]  # (advertiser, txid)


@dataclass(slots=True)
class Batch:
    """What one transaction writes, in stream order."""

    creates: list[Row] = field(default_factory=list)
    # (key, old status, new status, changed by)
    changes: list[tuple[Key, str, str, str]] = field(default_factory=list)
    # (key, new status or None for a creation) in the order they happened: history/outbox
    events: list[tuple[Key, str | None, str, str]] = field(default_factory=list)
    # Keys whose status_at moved without a change of status.
    touched: set[Key] = field(default_factory=set)
    # Keys whose pixel conversion gives up its txid (superseded by a postback).
    freed: set[Key] = field(default_factory=set)
    # Records to try again in a later batch.
    superseded: list[ConversionRecord] = field(default_factory=list)


def plan(candidates: list[Candidate], state: dict[Key, Row], quota: Quota, now: datetime) -> Batch:
    """Decide each candidate against the conversion in force in `state` (updated as the
    batch goes, so a later record sees an earlier one's effect)."""
    batch = Batch()
    for candidate in candidates:
        row, rec, one_per_click = candidate
        key = (int(row["advertiser_id"]), str(row["txid"]))
        if key in batch.freed:
            # After its txid was taken back from a pixel: in a later batch.
            batch.superseded.append(rec)
            continue
        current = state.get(key)
        decision = decide(current, candidate, quota)
        if decision.kind in UNCHANGED:
            continue
        if decision.counts:
            quota.count(row if current is None else current, one_per_click)
        if current is None:
            settle(row, decision)
            row["created_at"] = now
            state[key] = row
            batch.creates.append(row)
            batch.events.append((key, None, row["status"], rec.via))
            continue
        old = current["status"]
        settle(current, decision)
        if decision.kind in TOUCHES:
            batch.touched.add(key)
            continue
        batch.changes.append((key, old, decision.status, rec.via))
        batch.events.append((key, old, decision.status, rec.via))
        if decision.kind is Kind.SUPERSEDE:
            # The pixel's conversion is reversed and gives up the txid; this postback
            # goes around again and is then recorded as a conversion of its own click.
            batch.freed.add(key)
            batch.superseded.append(rec)
    return batch
