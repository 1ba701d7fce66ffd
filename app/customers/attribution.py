"""Attribution with customers and coupons, for one batch of the conversions stream.

The order (DESIGN.md, issue 13): a stored click credits its affiliate; else a coupon of
the postback's advertiser (for the offer, or for all its offers) credits the coupon's
affiliate; else a known `customer_id` of the advertiser credits the customer's affiliate
while the offer's `lifetime_days` since the customer's first conversion allow it; else
the conversion is kept `unattributed` with the reason of the first step that failed
(`unknown_coupon`, `coupon_other_advertiser`, `coupon_archived`, `coupon_other_offer`,
`no_offer`, `no_link`, `offer`, `lifetime_expired`, `unknown_customer`).

A click-less postback names its offer with `offer_id`, else the customer's bound one.
A credit through a click or coupon meets the customer's binding: the same affiliate is a
recurring conversion; another one is decided by the offer's `attribution_model`:
`last_click` credits the new affiliate and rebinds the customer (a `rebound` event),
`first_click` keeps the credit with the bound affiliate while the lifetime lasts (and it
has a link on the offer). The first credited conversion (approved or pending, no tracker
reason) carrying an unknown `customer_id` creates the customer, bound to it.

Locks (README, Customers): a batch takes the advisory locks of its customers' (advertiser,
external ID), in ascending order, before the writer's own set (app/attribution/writer.py),
since a binding decides which offer's cap locks the writer needs; nobody holding a writer
lock waits for a customer lock, so no wait can cycle, and two conversions of a new
customer in two batches serialise: the second sees the customer the first made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from app.attribution import queries as attribution_queries
from app.attribution.rules import COUNTED, Offer, Row, default_txid, received_at
from app.coupons import service as coupons
from app.customers import queries, store
from app.customers.binding import (
    DEFAULT_TERMS,
    Credit,
    Customer,
    CustomerConflict,
    Key,
    Pair,
    Terms,
    bind,
    binding_source,
    customer_of,
    link_pairs,
    lock_key,
)
from app.customers.coupon_credit import coupon_credit
from app.db import Connection
from app.postbacks.records import ConversionRecord

__all__ = ["Credit", "CustomerBatch", "CustomerConflict", "lock_key"]


@dataclass
class CustomerBatch:
    """The customers, coupons and terms one batch needs, loaded in a few queries."""

    advertiser_of: dict[int, int]  # id(rec) -> advertiser
    # By (advertiser, external ID); a customer whose external ID was erased, by its ID.
    customers: dict[Key | int, Customer]
    coupons: dict[str, list[coupons.Coupon]]
    existing: set[tuple[int, str]]
    reserved: list[int]
    terms: dict[int, Terms] = field(default_factory=dict)
    links: dict[Pair, int] = field(default_factory=dict)
    recurring_overrides: dict[tuple[int, int], tuple[str, Decimal]] = field(default_factory=dict)
    seq: dict[tuple[int, int], int] = field(default_factory=dict)
    seen: set[tuple[int, str]] = field(default_factory=set)
    link_pairs: set[Pair] = field(default_factory=set)
    events: list[tuple[Customer, str, int | None, Row]] = field(default_factory=list)

    @property
    def offer_ids(self) -> set[int]:
        """Offers named by the batch's coupons and customers."""
        ids = {c.offer_id for c in self.customers.values()}
        ids |= {c.offer_id for found in self.coupons.values() for c in found if c.offer_id}
        return ids

    @property
    def affiliate_ids(self) -> set[int]:
        ids = {c.affiliate_id for c in self.customers.values()}
        return ids | {c.affiliate_id for found in self.coupons.values() for c in found}

    # --- loading ---------------------------------------------------------------------

    @classmethod
    async def open(
        cls, conn: Connection, items: list[tuple[ConversionRecord, int | None, Any]]
    ) -> CustomerBatch | None:
        """Lock and load what the records (each with its advertiser and its stored click or
        None) need; None when none carries a customer_id or a coupon to use."""
        advertiser_of = {
            id(rec): adv
            for rec, adv, _ in items
            if adv is not None
            and (rec.customer_id is not None or rec.coupon is not None or rec.erased_customer)
        }
        if not advertiser_of:
            return None
        keys = sorted(
            {
                (adv, rec.customer_id)
                for rec, adv, _ in items
                if adv is not None and rec.customer_id is not None
            }
        )
        codes = {rec.coupon.lower() for rec, _, click in items if rec.coupon and click is None}
        found = await coupons.find_codes(conn, codes)
        customers: dict[Key | int, Customer] = {}
        reserved: list[int] = []
        erased = sorted({rec.erased_customer for rec, _, _ in items if rec.erased_customer})
        if erased:
            # No lock: nothing the batch writes (binding, events) depends on the external
            # ID, the one column an erasure changes.
            for r in await conn.fetch(queries.GET_MANY, erased):
                customers[int(r["id"])] = customer_of(r)
        if keys:
            await conn.fetchval(attribution_queries.LOCK_KEYS, sorted({lock_key(*k) for k in keys}))
            rows = await conn.fetch(queries.FIND, [k[0] for k in keys], [k[1] for k in keys])
            for r in rows:
                # Named by ID too (erased while others of its records waited): one object.
                customer = customers.get(int(r["id"])) or customer_of(r)
                customers[(customer.advertiser_id, str(r["external_id"]))] = customer
            unknown = len(keys) - sum(1 for k in customers if isinstance(k, tuple))
            if unknown:
                reserved = [int(r[0]) for r in await conn.fetch(queries.RESERVE_IDS, unknown)]
        existing = await _existing_txids(conn, items)
        batch = cls(advertiser_of, customers, found, existing, reserved)
        batch.link_pairs = link_pairs(
            [
                (rec, adv, click, batch._customer_of(rec))
                for rec, adv, click in items
                if id(rec) in advertiser_of
            ],
            found,
        )
        return batch

    async def load_terms(
        self, conn: Connection, offers: Mapping[int, Offer], clicked: set[int]
    ) -> None:
        """Terms, recurring overrides, links and recurring counts of the batch's offers,
        for the affiliates of its customers, coupons and stored clicks (`clicked`: a
        click may rebind a customer and is then paid as a recurring conversion)."""
        ids = list(offers)
        for r in await conn.fetch(queries.TERMS, ids):
            recurring = None
            if r["recurring_payout_type"] is not None:
                recurring = (str(r["recurring_payout_type"]), r["recurring_payout_value"])
            self.terms[int(r["id"])] = Terms(
                str(r["attribution_model"]), r["lifetime_days"], recurring, r["recurring_limit"]
            )
        affiliates = sorted(self.affiliate_ids | clicked)
        for r in await conn.fetch(queries.RECURRING_OVERRIDES, ids, affiliates):
            self.recurring_overrides[(int(r["offer_id"]), int(r["affiliate_id"]))] = (
                str(r["recurring_type"]),
                r["recurring_value"],
            )
        if self.link_pairs:
            await self._load_links(conn, sorted(self.link_pairs))
        known = sorted({c.id for c in self.customers.values()})
        if known:
            for r in await conn.fetch(queries.RECURRING_SEQ, known):
                self.seq[(int(r["customer_id"]), int(r["offer_id"]))] = int(r["seq"])

    async def _load_links(self, conn: Connection, pairs: list[Pair]) -> None:
        rows = await conn.fetch(queries.LINKS, [p[0] for p in pairs], [p[1] for p in pairs])
        for r in rows:
            self.links[(int(r["affiliate_id"]), int(r["offer_id"]))] = int(r["id"])

    # --- deciding --------------------------------------------------------------------

    def _terms(self, offer_id: int) -> Terms:
        return self.terms.get(offer_id, DEFAULT_TERMS)

    def _customer_of(self, rec: ConversionRecord) -> Customer | None:
        adv = self.advertiser_of.get(id(rec))
        if adv is None:
            return None
        if rec.erased_customer is not None:
            found = self.customers.get(rec.erased_customer)
            return found if found is not None and found.advertiser_id == adv else None
        if rec.customer_id is None:
            return None
        return self.customers.get((adv, rec.customer_id))

    def credit(
        self, rec: ConversionRecord, click: asyncpg.Record | None, offers: Mapping[int, Offer]
    ) -> Credit | str | None:
        """The credit of a record (its stored click, or None), else the reason it has none
        (None: nothing to go by, as a postback whose click never arrived)."""
        adv = self.advertiser_of.get(id(rec))
        customer = self._customer_of(rec)
        at = received_at(rec)
        if click is not None:
            credit = Credit(
                "pixel" if rec.via == "pixel" else "click",
                int(click["offer_id"]),
                {**click, "real_clicked_at": click["clicked_at"]},
            )
            return self._against_customer(credit, customer, at)
        if adv is None:
            return None
        reason: str | None = None
        if rec.coupon is not None:
            by_coupon = coupon_credit(self.coupons, self.links, rec, adv, customer, offers, at)
            if isinstance(by_coupon, Credit):
                return self._against_customer(by_coupon, customer, at)
            reason = by_coupon
        if rec.customer_id is None and rec.erased_customer is None:
            return reason
        if customer is None:
            return reason or "unknown_customer"
        offer_id = rec.offer_id or customer.offer_id
        offer = offers.get(offer_id)
        if offer is None or offer.advertiser_id != adv:
            return reason or "offer"
        if not self._terms(offer_id).within(customer.first_conversion_at, at):
            return reason or "lifetime_expired"
        link = self._link(customer, offer_id)
        if link is None:
            return reason or "no_link"
        return Credit("customer", offer_id, binding_source(customer, offer_id, link, at), customer)

    def _link(self, customer: Customer, offer_id: int) -> int | None:
        if offer_id == customer.offer_id and customer.link_id is not None:
            return customer.link_id
        return self.links.get((customer.affiliate_id, offer_id))

    def _against_customer(self, credit: Credit, customer: Customer | None, at: datetime) -> Credit:
        """A click's or coupon's credit, against the customer's binding."""
        if customer is None or customer.affiliate_id == credit.affiliate_id:
            credit.customer = customer
            return credit
        terms = self._terms(credit.offer_id)
        if terms.model == "first_click" and terms.within(customer.first_conversion_at, at):
            link = self._link(customer, credit.offer_id)
            if link is not None:
                source = binding_source(customer, credit.offer_id, link, at)
                return Credit("customer", credit.offer_id, source, customer)
        credit.customer = customer
        credit.rebind = True
        return credit

    def money_rules(
        self, credit: Credit, offer: Offer, override: tuple[str, Decimal] | None
    ) -> tuple[Offer, tuple[str, Decimal] | None]:
        """The offer and override to price a conversion with: a recurring one pays the
        recurring rules (the affiliate's recurring override, else its override, else the
        offer's recurring_payout, else its payout) on the main goal."""
        if not credit.recurring:
            return offer, override
        recurring_override = self.recurring_overrides.get((offer.id, credit.affiliate_id))
        if recurring_override is not None:
            return offer, recurring_override
        rule = self._terms(offer.id).recurring
        if override is not None or rule is None:
            return offer, override
        main = offer.goals.get(offer.main_goal)
        if main is None:
            return offer, override
        goals = {
            **offer.goals,
            offer.main_goal: replace(main, payout_type=rule[0], payout_value=rule[1]),
        }
        return replace(offer, goals=goals), override

    def mark(self, row: Row) -> None:
        """A row of the batch that goes without customer effects: a later record with its
        txid changes its conversion rather than making one."""
        self.seen.add((int(row["advertiser_id"]), str(row["txid"])))

    def settle(self, row: Row, credit: Credit, rec: ConversionRecord) -> None:
        """Fill a credited row's customer columns and apply its effects on the binding
        (only for a conversion new to the database and to the batch)."""
        row["attributed_via"] = credit.via
        row["coupon_id"] = credit.coupon_id
        if credit.via in ("coupon", "customer"):
            row["click_id"] = None
            row["clicked_at"] = credit.source["real_clicked_at"]
        adv = int(row["advertiser_id"])
        key = (adv, str(row["txid"]))
        fresh = key not in self.existing and key not in self.seen
        self.seen.add(key)
        customer = credit.customer
        row["customer_id"] = customer.id if customer else None
        row["recurring"] = customer is not None
        # Only a new conversion the advertiser counts (approved or pending, no tracker
        # reason such as `window`) binds: a replay, a status change or a refusal does not.
        counted = row["status"] in COUNTED and row["reason"] is None
        if not fresh or not counted or (customer is None and rec.customer_id is None):
            return
        if customer is None:
            assert rec.customer_id is not None
            # Its binding is its first conversion's (the timeline shows it from there):
            # no event row for it, the batch's most frequent write.
            customer = self._create(adv, rec.customer_id, credit, row, rec)
            row["customer_id"] = customer.id
            return
        if credit.rebind:
            previous = customer.affiliate_id
            bind(customer, credit, rec)
            customer.rebound = True
            self.events.append((customer, "rebound", previous, row))
        seq = self.seq.get((customer.id, credit.offer_id), 0) + 1
        self.seq[(customer.id, credit.offer_id)] = seq
        row["recurring_seq"] = seq
        limit = self._terms(credit.offer_id).limit
        if limit is not None and seq > limit:
            row["payout"] = Decimal(0)

    def settle_unattributed(self, row: Row, rec: ConversionRecord) -> None:
        row["attributed_via"] = (
            ("pixel" if rec.via == "pixel" else "click")
            if rec.click_id is not None
            else "coupon"
            if rec.coupon is not None
            else "customer"
        )
        customer = self._customer_of(rec)
        row["customer_id"] = customer.id if customer else None
        row["recurring"] = customer is not None
        self.mark(row)

    def _create(
        self, adv: int, external_id: str, credit: Credit, row: Row, rec: ConversionRecord
    ) -> Customer:
        customer = Customer(
            id=self.reserved.pop(),
            advertiser_id=adv,
            external_id=external_id,
            affiliate_id=credit.affiliate_id,
            offer_id=credit.offer_id,
            link_id=None,
            click_id=None,
            clicked_at=None,
            subs={},
            country=None,
            first_conversion_at=row["received_at"],
            creator=row,
        )
        bind(customer, credit, rec)
        self.customers[(adv, external_id)] = customer
        return customer

    # --- writing ---------------------------------------------------------------------

    async def write(self, conn: Connection) -> None:
        """Insert the new customers (their first conversions are stored now), update the
        rebound ones, and record the bindings: a fixed number of statements."""
        unique = {c.id: c for c in self.customers.values()}
        await store.write(conn, list(unique.values()), self.events)


async def _existing_txids(
    conn: Connection, items: list[tuple[ConversionRecord, int | None, Any]]
) -> set[tuple[int, str]]:
    """The (advertiser, txid) of the records naming a customer (or an erased one) that are
    conversions already stored, so that such a record changes its conversion rather than
    binding as a new one. A record without a txid is its click's and goal's
    (`default_txid`): the goal is its event, else its click's offer's main goal."""
    named = [
        (rec, adv, click)
        for rec, adv, click in items
        if adv is not None and (rec.customer_id is not None or rec.erased_customer)
    ]
    offers = {int(click["offer_id"]) for rec, _, click in named if not rec.txid and click}
    main_goal: dict[int, str] = {}
    if offers and any(rec.event is None for rec, _, click in named if not rec.txid and click):
        rows = await conn.fetch(queries.MAIN_GOALS, sorted(offers))
        main_goal = {int(r["id"]): str(r["main_goal"]) for r in rows}
    pairs: set[tuple[int, str]] = set()
    for rec, adv, click in named:
        assert adv is not None
        if rec.txid:
            pairs.add((adv, rec.txid))
        elif click is not None and rec.click_id is not None:
            goal = rec.event or main_goal.get(int(click["offer_id"]))
            if goal is not None:
                pairs.add((adv, default_txid(rec.click_id, goal)))
    if not pairs:
        return set()
    ordered = sorted(pairs)
    rows = await conn.fetch(
        queries.EXISTING_TXIDS, [p[0] for p in ordered], [p[1] for p in ordered]
    )
    return {(int(r["advertiser_id"]), str(r["txid"])) for r in rows}
