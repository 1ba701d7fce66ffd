"""What a browser pixel may do on an offer, and the amount cap of every conversion.

A pixel is unauthenticated: anyone can fire /pixel.gif with any click ID, amount or txid.
So an offer says whether pixels count at all (`pixel_policy`: `auto` counts them only
when the advertiser neither signs its postbacks nor has an IP allowlist, since a browser
can pass neither check; `allow`; `deny`) and what status their conversions start in
(`pixel_status`, `pending` unless the offer says `approved`). A pixel that does not
count, or whose click is never stored (click IDs are forgeable, so an unknown one is
no evidence of anything), is discarded: acked, counted as `discarded` in the worker's
counters (part of the pipeline balance), never stored and never dead-lettered, so
nobody can mint rows or dead letters at will.
"""

from __future__ import annotations

from decimal import Decimal

# Why a pixel was discarded (logged, and counted per reason in the worker's memory).
REFUSED = "offer refuses pixels"
UNKNOWN_CLICK = "click never stored"
NO_OFFER = "click of no offer"


def pixels_count(policy: str, *, advertiser_authenticates: bool) -> bool:
    """Whether a pixel conversion may be recorded on an offer with this policy."""
    if policy == "allow":
        return True
    if policy == "deny":
        return False
    return not advertiser_authenticates


def amount_refused(
    amount: Decimal | None, *, currency: str, offer_currency: str, max_amount: Decimal | None
) -> bool:
    """Whether an `amount` passes the offer's cap (in the offer's currency; an amount in
    another currency cannot be compared without a rate table, so it is refused too)."""
    if max_amount is None or amount is None:
        return False
    return currency != offer_currency or amount > max_amount
