"""Attribution's rules, without I/O: the offer's goals and window, money and payout
precedence, and the conversion row a record makes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from app.attribution import pixels, queries
from app.attribution.money import by_rule, round_money
from app.clickid import format_click_id
from app.clicks import record as click_record
from app.postbacks.records import ConversionRecord

Row = dict[str, Any]
COUNTED = ("approved", "pending")  # statuses that use up a cap or a one-per-click goal


@dataclass(frozen=True, slots=True)
class GoalRule:
    revenue_type: str
    revenue_value: Decimal
    payout_type: str
    payout_value: Decimal
    allow_multiple: bool


@dataclass(slots=True)
class Offer:
    id: int
    advertiser_id: int
    currency: str
    window: timedelta
    main_goal: str
    allow_payout_param: bool
    goals: dict[str, GoalRule]
    pixels_count: bool = True
    pixel_status: str = "pending"
    max_amount: Decimal | None = None


def offers_from(rows: list[asyncpg.Record], goals: list[asyncpg.Record]) -> dict[int, Offer]:
    offers = {
        int(r["id"]): Offer(
            id=int(r["id"]),
            advertiser_id=int(r["advertiser_id"]),
            currency=str(r["currency"]),
            window=timedelta(hours=int(r["attribution_window_hours"])),
            main_goal=str(r["main_goal"]),
            allow_payout_param=bool(r["allow_payout_param"]),
            pixels_count=pixels.pixels_count(
                str(r["pixel_policy"]),
                advertiser_authenticates=bool(r["advertiser_authenticates"]),
            ),
            pixel_status=str(r["pixel_status"]),
            max_amount=r["max_amount"],
            goals={
                str(r["main_goal"]): GoalRule(
                    r["revenue_type"],
                    r["revenue_value"],
                    r["payout_type"],
                    r["payout_value"],
                    bool(r["main_goal_multiple"]),
                )
            },
        )
        for r in rows
    }
    for g in goals:
        offer = offers.get(int(g["offer_id"]))
        if offer is not None:
            offer.goals[str(g["name"])] = GoalRule(
                g["revenue_type"],
                g["revenue_value"],
                g["payout_type"],
                g["payout_value"],
                bool(g["allow_multiple"]),
            )
    return offers


PayoutRule = tuple[str, Decimal]


@dataclass(frozen=True, slots=True)
class GroupTerms:
    """An affiliate's commission group: its rules by offer, and its default rule."""

    offers: dict[int, PayoutRule]
    default: PayoutRule | None


def groups_from(rows: list[asyncpg.Record]) -> dict[int, GroupTerms]:
    """GroupTerms by affiliate, from queries.GROUP_TERMS rows."""
    groups: dict[int, GroupTerms] = {}
    for r in rows:
        default = (str(r["default_type"]), r["default_value"]) if r["default_type"] else None
        terms = groups.setdefault(int(r["affiliate_id"]), GroupTerms({}, default))
        if r["offer_id"] is not None:
            terms.offers[int(r["offer_id"])] = (str(r["payout_type"]), r["payout_value"])
    return groups


def payout_rule(
    offer: Offer,
    rule: GoalRule,
    goal: str,
    override: PayoutRule | None,
    group: GroupTerms | None,
) -> PayoutRule:
    """The one place payout precedence is decided. On the offer's main goal: the
    affiliate's own override on the offer, then its group's rule for the offer, then its
    group's default rule; on any goal after that, the goal's own rule."""
    if goal == offer.main_goal:
        if override is not None:
            return override
        if group is not None:
            if (by_offer := group.offers.get(offer.id)) is not None:
                return by_offer
            if group.default is not None:
                return group.default
    return (rule.payout_type, rule.payout_value)


def received_at(rec: ConversionRecord) -> datetime:
    seconds, micros = divmod(rec.received_us, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def default_txid(click_id: uuid.UUID | None, goal: str) -> str:
    """Without a txid, one conversion per click and goal: a repeat is the same conversion."""
    if click_id is None:  # intake refuses a click-less postback without its txid
        raise ValueError("a conversion without a click needs its txid")
    return f"click:{format_click_id(click_id)}:{goal}"


def one_per_click(offer: Offer, goal: str) -> bool:
    rule = offer.goals.get(goal)
    return rule is not None and not rule.allow_multiple


def money(
    rec: ConversionRecord,
    offer: Offer,
    rule: GoalRule,
    goal: str,
    override: PayoutRule | None,
    group: GroupTerms | None = None,
) -> tuple[str | None, Decimal, Decimal]:
    """(refusal reason, revenue, payout) of a record on a goal of its offer.

    Payout precedence: the postback's `payout` parameter where the offer allows it, then
    `payout_rule` (the affiliate's override, its group, the goal's own rule).
    """
    amount_currency = rec.currency or offer.currency
    if pixels.amount_refused(
        rec.amount,
        currency=amount_currency,
        offer_currency=offer.currency,
        max_amount=offer.max_amount,
    ):
        return "amount", Decimal(0), Decimal(0)
    chosen = payout_rule(offer, rule, goal, override, group)
    use_param = rec.payout is not None and offer.allow_payout_param and rec.via == "postback"
    needs_amount = rule.revenue_type == "percent" or (chosen[0] == "percent" and not use_param)
    # Money in another currency than the offer's needs a rate table we do not have.
    if amount_currency != offer.currency and (needs_amount or use_param):
        return "currency", Decimal(0), Decimal(0)
    revenue = by_rule(
        rule.revenue_type, rule.revenue_value, amount=rec.amount, currency=offer.currency
    )
    if use_param:
        assert rec.payout is not None
        return None, revenue, round_money(rec.payout, offer.currency)
    payout = by_rule(chosen[0], chosen[1], amount=rec.amount, currency=offer.currency)
    return None, revenue, payout


def unattributed_row(
    rec: ConversionRecord, advertiser_id: int, offer: Offer | None, reason: str | None
) -> Row:
    goal = rec.event or (offer.main_goal if offer else "conversion")
    currency = rec.currency or (offer.currency if offer else "USD")
    row: Row = dict.fromkeys(queries.INSERT_COLUMNS)
    row.update(
        advertiser_id=advertiser_id,
        txid=rec.txid or default_txid(rec.click_id, goal),
        click_id=rec.click_id,
        goal=goal,
        status="unattributed",
        reason=reason,
        amount=rec.amount,
        amount_currency=rec.currency or currency,
        currency=currency,
        revenue=Decimal(0),
        payout=Decimal(0),
        via=rec.via,
        received_at=received_at(rec),
        status_at=received_at(rec),
    )
    return row


def attributed_row(
    rec: ConversionRecord,
    click: asyncpg.Record,
    offer: Offer,
    override: PayoutRule | None,
    group: GroupTerms | None = None,
) -> Row:
    """The conversion of a record whose click is known: money by rule, window, goal."""
    if rec.advertiser_id is not None and rec.advertiser_id != offer.advertiser_id:
        # The click belongs to another advertiser's offer: crediting it would pay an
        # affiliate for someone else's sale. Kept, but attributed to nobody.
        return unattributed_row(rec, rec.advertiser_id, None, "advertiser")
    goal = rec.event or offer.main_goal
    rule = offer.goals.get(goal)
    reason: str | None = None
    revenue = payout = Decimal(0)
    if rule is None:
        reason = "goal"
    else:
        reason, revenue, payout = money(rec, offer, rule, goal, override, group)
    at = received_at(rec)
    if reason is None and at > click["clicked_at"] + offer.window:
        reason = "window"
    row: Row = dict.fromkeys(queries.INSERT_COLUMNS)
    row.update(
        advertiser_id=offer.advertiser_id,
        txid=rec.txid or default_txid(rec.click_id, goal),
        click_id=rec.click_id,
        clicked_at=click["clicked_at"],
        link_id=click["link_id"],
        affiliate_id=click["affiliate_id"],
        offer_id=click["offer_id"],
        goal=goal,
        # A browser's word on the status is not taken: the offer's pixel_status is.
        status="rejected" if reason else offer.pixel_status if rec.via == "pixel" else rec.status,
        reason=reason,
        amount=rec.amount,
        amount_currency=rec.currency or offer.currency,
        currency=offer.currency,
        revenue=revenue,
        payout=payout,
        **{name: click[name] for name in click_record.SUB_NAMES},
        country=click["country"],
        device=click["device"],
        os=click["os"],
        browser=click["browser"],
        via=rec.via,
        received_at=at,
        status_at=at,
    )
    return row
