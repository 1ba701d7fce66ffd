"""What a new record does to the conversion in force for its (advertiser, txid): a pure
transition, `decide(current, candidate, admission)`, with no I/O.

The writer (app/attribution/writer.py) loads the conversions in force under their locks,
decides each record in stream order and applies the decisions with `settle`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import NamedTuple, Protocol

from app.attribution.rules import COUNTED, Row, received_at
from app.caps import conversions as conversion_caps
from app.postbacks.records import ConversionRecord


class Candidate(NamedTuple):
    """A record with the conversion row it would make (app/attribution/rules.py)."""

    row: Row
    rec: ConversionRecord
    # Whether its goal allows one conversion per click only.
    one_per_click: bool


class Kind(Enum):
    INSERT = "insert"  # a new conversion
    INSERT_REFUSED = "insert_refused"  # a new conversion, rejected: duplicate or cap
    # The advertiser's postback takes its txid back from a pixel's conversion, which is
    # rejected; the postback goes around again, as a conversion of its own.
    SUPERSEDE = "supersede"
    CHANGE = "change"  # a status change (a reversal)
    # A change back to a counted status that a cap or a one-per-click goal refuses.
    CHANGE_REFUSED = "change_refused"
    # The same status sent again, later: it becomes the one in force (status_at moves).
    REPEAT = "repeat"
    # A pixel (the browser may not change a status), or a conversion the tracker made
    # (rejected for a reason, or unattributed): nothing changes but by hand.
    IGNORE = "ignore"
    # A status sent before the one in force (it overtook a later one on another shard or
    # worker): nothing changes.
    OVERTAKEN = "overtaken"


# Kinds that change no column of the conversion in force.
UNCHANGED = frozenset({Kind.IGNORE, Kind.OVERTAKEN})
# Kinds whose status_at or reason move without a change of status.
TOUCHES = frozenset({Kind.REPEAT, Kind.CHANGE_REFUSED})


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    # The conversion's columns after the decision.
    status: str
    reason: str | None
    status_at: datetime | None
    # Whether the conversion now uses up its caps and one-per-click goal.
    counts: bool = False


class Admission(Protocol):
    def refusal(self, row: Row, one_per_click: bool) -> str | None:
        """Why a conversion may not take a counted status ("duplicate", "cap"), or None."""
        ...


@dataclass(slots=True)
class Quota:
    """What a batch may still admit: the one-per-click goals its clicks already used, and
    its offers' conversion caps."""

    taken: set[tuple[uuid.UUID, str]]
    caps: conversion_caps.Usage
    # (offer, affiliate) pairs a cap refused in this batch: mailed once per period.
    capped: set[tuple[int, int]] = field(default_factory=set)

    def refusal(self, row: Row, one_per_click: bool) -> str | None:
        if one_per_click and (row["click_id"], row["goal"]) in self.taken:
            return "duplicate"
        if self.caps.full(offer_id=row["offer_id"], affiliate_id=row["affiliate_id"]):
            if row["affiliate_id"] is not None:
                self.capped.add((int(row["offer_id"]), int(row["affiliate_id"])))
            return "cap"
        return None

    def count(self, row: Row, one_per_click: bool) -> None:
        self.caps.count(offer_id=row["offer_id"], affiliate_id=row["affiliate_id"])
        if one_per_click:
            self.taken.add((row["click_id"], row["goal"]))


def pixel_claimed(current: Row, row: Row, rec: ConversionRecord) -> bool:
    """Whether a postback finds its txid held by a pixel conversion of another click, or
    of its click with another amount (the browser's amount is not the advertiser's)."""
    return (
        rec.via != "pixel"
        and current.get("via") == "pixel"
        and current["click_id"] is not None
        and row.get("click_id") is not None
        and (
            row["click_id"] != current["click_id"]
            or (
                rec.amount is not None
                and (rec.amount, row["amount_currency"])
                != (current["amount"], current["amount_currency"])
            )
        )
    )


def _unchanged(kind: Kind, current: Row) -> Decision:
    return Decision(kind, current["status"], current["reason"], current["status_at"])


def decide(current: Row | None, candidate: Candidate, admission: Admission) -> Decision:
    row, rec, one_per_click = candidate
    if current is None:
        if row["status"] not in COUNTED:
            return Decision(Kind.INSERT, row["status"], row["reason"], row["status_at"])
        refusal = admission.refusal(row, one_per_click)
        if refusal is not None:
            return Decision(Kind.INSERT_REFUSED, "rejected", refusal, row["status_at"])
        return Decision(Kind.INSERT, row["status"], row["reason"], row["status_at"], counts=True)
    sent_at = received_at(rec)
    if pixel_claimed(current, row, rec):
        # The advertiser's own (authenticated) postback names another click (or amount)
        # than a browser pixel did for the same order: the server is the authority.
        return Decision(Kind.SUPERSEDE, "rejected", "superseded", sent_at)
    if rec.via == "pixel" or current["status"] == "unattributed" or current["reason"] is not None:
        return _unchanged(Kind.IGNORE, current)
    if current["status_at"] is not None and sent_at <= current["status_at"]:
        return _unchanged(Kind.OVERTAKEN, current)
    if current["status"] == rec.status:
        # Now the one in force, so an older change still on its way cannot undo it.
        return Decision(Kind.REPEAT, current["status"], current["reason"], sent_at)
    if (
        current["status"] not in COUNTED
        and rec.status in COUNTED
        and current["offer_id"] is not None
    ):
        # Coming back (rejected -> approved) is counted like a new conversion: it may not
        # pass a cap or take a one-per-click goal already used.
        refusal = admission.refusal({**current, "status": rec.status}, one_per_click)
        if refusal is not None:
            return Decision(Kind.CHANGE_REFUSED, current["status"], refusal, sent_at)
        return Decision(Kind.CHANGE, rec.status, current["reason"], sent_at, counts=True)
    return Decision(Kind.CHANGE, rec.status, current["reason"], sent_at)


def settle(conversion: Row, decision: Decision) -> None:
    """Apply a decision to the conversion it was made for (the candidate's row for an
    insertion)."""
    conversion["status"] = decision.status
    conversion["reason"] = decision.reason
    conversion["status_at"] = decision.status_at
