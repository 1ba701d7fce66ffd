"""decide(): what a record does to the conversion in force, without PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import asyncpg
from hypothesis import given
from hypothesis import strategies as st

from app.attribution import rules
from app.attribution.batch import Key, plan
from app.attribution.decision import UNCHANGED, Candidate, Decision, Kind, Quota, decide, settle
from app.caps import conversions as conversion_caps
from app.macros import SUB_IDS
from app.postbacks.records import STATUSES, ConversionRecord

CLICKED_AT = datetime(2030, 1, 1, tzinfo=UTC)
CLICKS = [uuid.UUID(int=n) for n in (1, 2)]
NOW = CLICKED_AT + timedelta(days=1)
TRACKER_REASONS = ("window", "cap", "duplicate", "goal", "amount", "currency", "superseded")


def offer(*, allow_multiple: bool = True) -> rules.Offer:
    return rules.Offer(
        id=1,
        advertiser_id=1,
        currency="USD",
        window=timedelta(days=30),
        main_goal="conversion",
        allow_payout_param=False,
        goals={
            "conversion": rules.GoalRule(
                "fixed", Decimal("10"), "fixed", Decimal("2.5"), allow_multiple
            )
        },
    )


def click(click_id: uuid.UUID) -> asyncpg.Record:
    fields: dict[str, Any] = dict.fromkeys((*SUB_IDS, "source", "aff_click_id"))
    fields.update(
        click_id=click_id,
        clicked_at=CLICKED_AT,
        link_id=1,
        affiliate_id=1,
        offer_id=1,
        country=None,
        device=None,
        os=None,
        browser=None,
    )
    return cast(asyncpg.Record, fields)


def quota(caps: list[conversion_caps.ConversionCap] | None = None) -> Quota:
    listed = caps or []
    return Quota(set(), conversion_caps.Usage({1: listed}, {cap.id: 0 for cap in listed}))


def candidate(rec: ConversionRecord, *, allow_multiple: bool = True) -> Candidate:
    on = offer(allow_multiple=allow_multiple)
    assert rec.click_id is not None
    row = rules.attributed_row(rec, click(rec.click_id), on, None)
    return Candidate(row, rec, rules.one_per_click(on, row["goal"]))


def record(
    *,
    via: str = "postback",
    click_id: uuid.UUID | None = CLICKS[0],
    txid: str = "T",
    status: str = "approved",
    amount: Decimal | None = None,
    seconds: int = 0,
) -> ConversionRecord:
    at = CLICKED_AT + timedelta(seconds=seconds)
    return ConversionRecord(
        via="pixel" if via == "pixel" else "postback",
        advertiser_id=None if via == "pixel" else 1,
        click_id=click_id,
        txid=txid,
        amount=amount,
        payout=None,
        currency=None,
        status=status,
        event=None,
        received_us=int(at.timestamp()) * 1_000_000,
    )


records = st.builds(
    record,
    via=st.sampled_from(["postback", "pixel"]),
    click_id=st.sampled_from(CLICKS),
    status=st.sampled_from(STATUSES),
    amount=st.sampled_from([None, Decimal("10"), Decimal("20")]),
    seconds=st.integers(min_value=0, max_value=100),
)


def conversion(rec: ConversionRecord, **changes: Any) -> rules.Row:
    """The conversion a first record made (as inserted), with `changes`."""
    row = candidate(rec).row
    settle(row, decide(None, candidate(rec), quota()))
    row.update(changes)
    return row


def run(candidates: list[Candidate], q: Quota | None = None) -> dict[Key, rules.Row]:
    state: dict[Key, rules.Row] = {}
    plan(candidates, state, q or quota(), NOW)
    return state


@given(first=records, then=records)
def test_a_record_decided_again_changes_nothing(
    first: ConversionRecord, then: ConversionRecord
) -> None:
    current = conversion(first)
    decision = decide(current, candidate(then), quota())
    # A superseded pixel gives up its txid: the postback never meets it again.
    if decision.kind is not Kind.SUPERSEDE:
        settle(current, decision)
        before = dict(current)
        again = decide(current, candidate(then), quota())
        assert again.kind in UNCHANGED
        settle(current, again)
        assert current == before


@given(
    sent=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.sampled_from(STATUSES)),
        min_size=1,
        max_size=8,
        unique_by=lambda s: s[0],
    ),
    order=st.randoms(use_true_random=False),
)
def test_the_last_status_sent_wins_in_any_order(sent: list[tuple[int, str]], order: Any) -> None:
    arriving = list(sent)
    order.shuffle(arriving)
    state = run([candidate(record(status=s, seconds=t)) for t, s in arriving])
    [final] = state.values()
    assert final["status"] == max(sent)[1]
    assert final["reason"] is None


@given(
    reason=st.sampled_from(TRACKER_REASONS),
    unattributed=st.booleans(),
    then=records,
)
def test_a_conversion_the_tracker_made_changes_only_by_hand(
    reason: str, unattributed: bool, then: ConversionRecord
) -> None:
    made = record(seconds=50)
    if unattributed:
        current = rules.unattributed_row(made, 1, offer(), None)
    else:
        current = conversion(made, status="rejected", reason=reason)
    before = dict(current)
    decision = decide(current, candidate(then), quota())
    assert decision.kind is Kind.IGNORE
    settle(current, decision)
    assert current == before


@given(first=records, then=records)
def test_a_pixel_never_supersedes_nor_changes_a_conversion(
    first: ConversionRecord, then: ConversionRecord
) -> None:
    current = conversion(first)
    decision = decide(current, candidate(then), quota())
    if then.via == "pixel":
        assert decision.kind is Kind.IGNORE
    if first.via == "postback":
        assert decision.kind is not Kind.SUPERSEDE


def test_a_postback_of_another_click_supersedes_a_pixel() -> None:
    current = conversion(record(via="pixel", click_id=CLICKS[0]))
    decision = decide(current, candidate(record(click_id=CLICKS[1], seconds=1)), quota())
    assert decision == Decision(
        Kind.SUPERSEDE, "rejected", "superseded", CLICKED_AT + timedelta(seconds=1)
    )


@given(st.lists(records, min_size=1, max_size=10), st.lists(st.sampled_from("ABC"), min_size=10))
def test_a_one_per_click_goal_is_counted_once_per_click(
    recs: list[ConversionRecord], txids: list[str]
) -> None:
    postbacks = [
        candidate(
            record(click_id=r.click_id, txid=t, status=r.status, seconds=i),
            allow_multiple=False,
        )
        for i, (r, t) in enumerate(zip(recs, txids, strict=False))
    ]
    state = run(postbacks)
    for click_id in CLICKS:
        counted = [
            row
            for row in state.values()
            if row["click_id"] == click_id and row["status"] in rules.COUNTED
        ]
        assert len(counted) <= 1
    refused = [row for row in state.values() if row["reason"] is not None]
    assert all(row["reason"] == "duplicate" for row in refused)


@given(st.lists(records, min_size=1, max_size=10), st.integers(min_value=1, max_value=3))
def test_a_cap_counts_no_more_than_its_limit(recs: list[ConversionRecord], limit: int) -> None:
    cap = conversion_caps.ConversionCap(
        id=7, offer_id=1, period="day", limit=limit, affiliate_id=None
    )
    postbacks = [
        candidate(record(click_id=r.click_id, txid=f"T{i % 4}", status=r.status, seconds=i))
        for i, r in enumerate(recs)
    ]
    state = run(postbacks, quota([cap]))
    counted = [row for row in state.values() if row["status"] in rules.COUNTED]
    assert len(counted) <= limit
    assert all(row["reason"] in (None, "cap") for row in state.values())
