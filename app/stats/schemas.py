"""The documented shape of a stats response (rows are built as plain dicts for speed)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Metrics(BaseModel):
    currency: str | None = Field(
        description="Money fields are in this currency; null when totals span several"
    )
    clicks: int
    unique_clicks: int
    bot_clicks: int
    conversions: int = Field(description="Approved conversions")
    pending_conversions: int
    rejected_conversions: int
    revenue: str | None = Field(None, description="Decimal string; admin keys only")
    payout: str | None
    new_customers: int = Field(description="Customers whose first conversion is in the row")
    repeat_conversions: int = Field(description="Approved conversions after their customer's first")
    customer_revenue: str | None = Field(
        None, description="Approved revenue of conversions with a customer; admin keys only"
    )
    profit: str | None = Field(None, description="revenue - payout; admin keys only")
    cr: str | None = Field(description="conversions / clicks, percent; null without clicks")
    epc: str | None = Field(description="payout / clicks; null without clicks")
    diverted: int = Field(
        description="Human clicks the redirect sent to the offer's fallback URL instead of "
        "the offer (counted in `clicks` too), whatever the reason"
    )
    diverted_cap: int = Field(description="Diverted: a click cap of the offer was reached")
    diverted_paused: int = Field(description="Diverted: the offer was paused")
    diverted_archived: int = Field(description="Diverted: the link or the offer was archived")
    diverted_affiliate_inactive: int = Field(
        description="Diverted: the affiliate was not active (applied, suspended, rejected)"
    )
    diverted_targeting_country: int = Field(
        description="Diverted: the visitor's country is outside the offer's targeting"
    )
    diverted_targeting_device: int = Field(
        description="Diverted: the visitor's device is outside the offer's targeting"
    )


class StatsOut(BaseModel):
    rows: list[dict[str, Any]] = Field(
        description="One per group and currency: the group_by fields (IDs with a "
        "`<field>_name`), `currency` and the metrics"
    )
    totals: Metrics
    totals_by_currency: list[Metrics]
