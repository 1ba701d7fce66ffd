"""A coupon's credit for a click-less conversion (app/customers/attribution.py)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from app.attribution.rules import Offer
from app.coupons.service import Coupon
from app.customers.binding import BINDING_FIELDS, Credit, Customer, Pair
from app.postbacks.records import ConversionRecord


def coupon_credit(
    coupons: Mapping[str, list[Coupon]],
    links: Mapping[Pair, int],
    rec: ConversionRecord,
    adv: int,
    customer: Customer | None,
    offers: Mapping[int, Offer],
    at: datetime,
) -> Credit | str:
    """The credit of the record's coupon, else the reason it gives none."""
    assert rec.coupon is not None
    found = coupons.get(rec.coupon.lower(), [])
    own = [c for c in found if c.advertiser_id == adv]
    if not own:
        return "coupon_other_advertiser" if found else "unknown_coupon"
    coupon = own[0]
    if not coupon.active:
        return "coupon_archived"
    if coupon.offer_id is not None:
        if rec.offer_id is not None and rec.offer_id != coupon.offer_id:
            return "coupon_other_offer"
        offer_id = coupon.offer_id
    elif rec.offer_id is not None:
        offer_id = rec.offer_id
    elif customer is not None:
        offer_id = customer.offer_id
    else:
        return "no_offer"
    offer = offers.get(offer_id)
    if offer is None or offer.advertiser_id != adv:
        return "offer"
    link = links.get((coupon.affiliate_id, offer_id))
    if link is None:
        return "no_link"
    source: dict[str, Any] = {
        "clicked_at": at,
        "real_clicked_at": None,
        "link_id": link,
        "affiliate_id": coupon.affiliate_id,
        "offer_id": offer_id,
        **dict.fromkeys((*BINDING_FIELDS, "aff_click_id", "country", "device", "os")),
        "browser": None,
    }
    return Credit("coupon", offer_id, source, coupon_id=coupon.id)
