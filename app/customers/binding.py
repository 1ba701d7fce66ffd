"""A customer's binding, an offer's customer terms and a conversion's credit: the values
app/customers/attribution.py decides with, and their rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from app.attribution import writer
from app.attribution.rules import Row
from app.coupons.service import Coupon
from app.macros import SUB_IDS
from app.postbacks.records import ConversionRecord

Key = tuple[int, str]  # (advertiser, external ID)
Pair = tuple[int, int]  # (affiliate, offer)
BINDING_FIELDS = (*SUB_IDS, "source")


def lock_key(advertiser_id: int, external_id: str) -> int:
    # The writer's hash: one key space with its txid, cap and click locks.
    return writer.lock_key("customer", advertiser_id, external_id)


class CustomerConflict(Exception):
    """A batch's new customer lost its first conversion to a txid already in force while
    later conversions of the batch already count on it: the batch goes entry by entry."""


@dataclass(slots=True)
class Customer:
    id: int
    advertiser_id: int
    # None once erased (app/privacy): such a customer is found by its ID only.
    external_id: str | None
    affiliate_id: int
    offer_id: int
    link_id: int | None
    click_id: uuid.UUID | None
    clicked_at: datetime | None
    subs: dict[str, Any]
    country: str | None
    first_conversion_at: datetime
    # Made by this batch: `creator` is the row of its first conversion.
    creator: Row | None = None
    rebound: bool = False


@dataclass(frozen=True, slots=True)
class Terms:
    """An offer's customer terms."""

    model: str
    lifetime_days: int | None
    recurring: tuple[str, Decimal] | None
    limit: int | None

    def within(self, first_at: datetime, at: datetime) -> bool:
        if self.lifetime_days is None:
            return True
        return self.lifetime_days > 0 and at <= first_at + timedelta(days=self.lifetime_days)


DEFAULT_TERMS = Terms("last_click", 365, None, None)


@dataclass(slots=True)
class Credit:
    """Who a conversion credits, and through what."""

    via: str  # click, pixel, coupon, customer
    offer_id: int
    # Click-shaped: what attributed_row reads (clicked_at, link, affiliate, sub-IDs ...).
    source: dict[str, Any]
    customer: Customer | None = None
    coupon_id: int | None = None
    rebind: bool = False

    @property
    def affiliate_id(self) -> int:
        return int(self.source["affiliate_id"])

    @property
    def recurring(self) -> bool:
        return self.customer is not None


def binding_source(customer: Customer, offer_id: int, link_id: int, at: datetime) -> dict[str, Any]:
    return {
        "clicked_at": at,  # no window for a credit without a click
        "real_clicked_at": customer.clicked_at,
        "link_id": link_id,
        "affiliate_id": customer.affiliate_id,
        "offer_id": offer_id,
        **customer.subs,
        "aff_click_id": None,
        "country": customer.country,
        "device": None,
        "os": None,
        "browser": None,
    }


def bind(customer: Customer, credit: Credit, rec: ConversionRecord) -> None:
    source = credit.source
    customer.affiliate_id = credit.affiliate_id
    customer.offer_id = credit.offer_id
    customer.link_id = source["link_id"]
    customer.click_id = rec.click_id if credit.via in ("click", "pixel") else None
    customer.clicked_at = source["real_clicked_at"]
    customer.subs = {name: source[name] for name in BINDING_FIELDS}
    customer.country = source["country"]


def columns(c: Customer) -> tuple[Any, ...]:
    assert c.creator is None or "id" in c.creator
    return (
        c.id,
        c.advertiser_id,
        c.external_id,
        c.affiliate_id,
        c.offer_id,
        c.link_id,
        c.click_id,
        c.clicked_at,
        *(c.subs.get(name) for name in BINDING_FIELDS),
        c.country,
        c.creator["id"] if c.creator else None,
        c.first_conversion_at,
    )


def customer_of(r: asyncpg.Record) -> Customer:
    return Customer(
        id=int(r["id"]),
        advertiser_id=int(r["advertiser_id"]),
        external_id=r["external_id"],
        affiliate_id=int(r["affiliate_id"]),
        offer_id=int(r["offer_id"]),
        link_id=r["link_id"],
        click_id=r["click_id"],
        clicked_at=r["clicked_at"],
        subs={name: r[name] for name in BINDING_FIELDS},
        country=r["country"],
        first_conversion_at=r["first_conversion_at"],
    )


def link_pairs(
    items: list[tuple[ConversionRecord, int | None, Any, Customer | None]],
    coupons: dict[str, list[Coupon]],
) -> set[Pair]:
    """The (affiliate, offer) links credits without a click may need, for records (each
    with its advertiser, stored click or None, and known customer): per customer, every
    affiliate its records may bind it to times every offer they may credit (within a
    batch a binding changes only to an affiliate of that customer's own records)."""
    affiliates: dict[object, set[int]] = {}
    offers: dict[object, set[int]] = {}
    for rec, adv, click, customer in items:
        key: object = (
            (adv, rec.customer_id)
            if rec.customer_id is not None
            else ("erased", rec.erased_customer)
            if rec.erased_customer is not None
            else id(rec)
        )
        who, where = affiliates.setdefault(key, set()), offers.setdefault(key, set())
        if customer is not None:
            who.add(customer.affiliate_id)
            where.add(customer.offer_id)
        if click is not None:
            who.add(int(click["affiliate_id"]))
            where.add(int(click["offer_id"]))
        if rec.offer_id is not None:
            where.add(rec.offer_id)
        if rec.coupon is not None and click is None:
            for coupon in coupons.get(rec.coupon.lower(), []):
                if coupon.advertiser_id == adv:
                    who.add(coupon.affiliate_id)
                    if coupon.offer_id is not None:
                        where.add(coupon.offer_id)
    return {(a, o) for key, who in affiliates.items() for a in who for o in offers[key]}
