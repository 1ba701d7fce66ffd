"""Bodies of the conversions API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from app.clickid import format_click_id
from app.money import format_money

MoneyOut = Annotated[Decimal, PlainSerializer(format_money, return_type=str, when_used="json")]


class StatusPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    status: Literal["approved", "pending", "rejected"]


class AffiliateConversionOut(BaseModel):
    """A conversion as its affiliate sees it: no advertiser, no revenue."""

    id: int
    txid: str
    click_id: str | None
    clicked_at: datetime | None
    link_id: int | None
    affiliate_id: int | None
    offer_id: int | None
    event: str
    status: Literal["approved", "pending", "rejected", "unattributed"]
    reason: str | None
    via: Literal["click", "pixel", "coupon", "customer", "manual"] = Field(
        description="how it was credited: its click (postback or pixel), a coupon, the "
        "customer's binding, or by hand"
    )
    channel: Literal["postback", "pixel"] = Field(description="what reported it")
    customer_id: int | None = Field(description="the service's customer (GET /customers/{id})")
    recurring: bool = Field(description="one of its customer's conversions after the first")
    amount: MoneyOut | None
    amount_currency: str | None
    currency: str
    payout: MoneyOut
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    source: str | None
    aff_click_id: str | None
    country: str | None
    device: str | None
    os: str | None
    browser: str | None
    received_at: datetime
    created_at: datetime
    updated_at: datetime


class ConversionOut(AffiliateConversionOut):
    advertiser_id: int
    revenue: MoneyOut
    customer_external_id: str | None = Field(
        default=None, description="the advertiser's own ID of the customer"
    )


def fields_of(row: Any) -> dict[str, Any]:
    data = dict(row)
    data["event"] = data.pop("goal")
    data["click_id"] = format_click_id(data["click_id"]) if data["click_id"] else None
    data["channel"] = data["via"]
    # Rows older than customers (migration 0030) say only what reported them.
    data["via"] = data["attributed_via"] or ("pixel" if data["via"] == "pixel" else "click")
    return data


class ConversionChangeOut(BaseModel):
    old_status: str | None = Field(description="null for the conversion's creation")
    new_status: str
    changed_by: str = Field(
        description="who: `admin:<key id>` for a change by hand (an admin key, or a "
        "person's identity key in the portal), else what carried it in"
    )
    changed_at: datetime
