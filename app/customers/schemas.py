"""Bodies of the customers API. An affiliate's view has no external ID, no advertiser and
no revenue; its totals and timeline are its own conversions only."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api_params import IdQuery
from app.attribution.schemas import MoneyOut
from app.catalog.fields import Id
from app.pagination import AffiliateAliasPage

TimelineKind = Literal["click", "conversion", "status_change", "bound", "rebound", "reassigned"]


class CustomerQuery(AffiliateAliasPage):
    offer: IdQuery = None
    advertiser: IdQuery = None


class ReassignIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    affiliate_id: Id
    reason: str = Field(min_length=1, max_length=500)


class TimelineItem(BaseModel):
    at: datetime
    kind: TimelineKind = Field(
        description="the first click; each conversion and status change; each (re)binding"
    )
    affiliate_id: int | None = None
    previous_affiliate_id: int | None = None
    conversion_id: int | None = None
    offer_id: int | None = None
    event: str | None = None
    status: str | None = None
    old_status: str | None = None
    recurring: bool | None = None
    via: str | None = None
    payout: MoneyOut | None = None
    currency: str | None = None
    changed_by: str | None = None
    reason: str | None = None


class AffiliateCustomerOut(BaseModel):
    id: int
    affiliate_id: int
    offer_id: int
    link_id: int | None
    click_id: str | None
    clicked_at: datetime | None
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    source: str | None
    country: str | None
    first_conversion_at: datetime
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None = Field(
        default=None, description="when its personal data was erased (README, Privacy)"
    )


class CustomerOut(AffiliateCustomerOut):
    advertiser_id: int
    external_id: str | None = Field(
        description="the advertiser's own ID of the buyer; null once erased"
    )


class AffiliateCustomerDetail(AffiliateCustomerOut):
    conversions: int = Field(description="approved conversions credited to this key's affiliate")
    payout: dict[str, MoneyOut] = Field(description="approved payout per currency")
    timeline: list[TimelineItem]


class CustomerDetail(CustomerOut):
    conversions: int = Field(description="approved conversions of its lifetime")
    revenue: dict[str, MoneyOut] = Field(description="approved revenue per currency")
    payout: dict[str, MoneyOut] = Field(description="approved payout per currency")
    timeline: list[TimelineItem]
