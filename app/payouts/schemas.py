"""Bodies of the payouts API."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from app import patterns
from app.api_params import IdQuery
from app.catalog.fields import Currency, Id, Input
from app.ledger.schemas import MoneyOut
from app.pagination import AffiliateAliasPage, PageParams


def _day(value: object) -> dt.date:
    # Exactly the pattern's text: no Unix time (JSON 0), no other date notation (a date
    # object, which JSON cannot make, is a Python caller's).
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not patterns.matches(DAY, value):
        raise ValueError("must be an ISO date such as 2026-11-30 (years 1970-2999)")
    return dt.date.fromisoformat(value)


DAY = f"^{patterns.DAY}$"
Day = Annotated[dt.date, BeforeValidator(_day), WithJsonSchema({"type": "string", "pattern": DAY})]
Status = Literal["requested", "pending", "paid", "failed"]


class PayoutQuery(AffiliateAliasPage):
    currency: Currency | None = None
    status: Status | None = None
    run: IdQuery = None


class RunQuery(PageParams):
    currency: Currency | None = None


STATUS_DOC = (
    "requested (by the affiliate) or pending (made by a run) until marked paid or failed; "
    "a failed payout's money is available again"
)


class RunIn(Input):
    currency: Currency
    up_to: Day = Field(
        description="take entries available by the end of this day (UTC), never later "
        "than now: nothing still in hold is paid",
    )
    affiliate_ids: list[Id] | None = Field(
        default=None, min_length=1, max_length=10_000, description="only these affiliates"
    )


class PaidIn(Input):
    reference: str = Field(min_length=1, max_length=200, description="the payment's reference")


class FailedIn(Input):
    reason: str = Field(min_length=1, max_length=2000)


class RequestIn(Input):
    currency: Currency


class PayoutOut(BaseModel):
    id: int
    run_id: int | None = Field(description="null for a payout the affiliate requested")
    affiliate_id: int
    currency: str
    amount: MoneyOut
    status: Status = Field(description=STATUS_DOC)
    period_start: dt.datetime
    period_end: dt.datetime = Field(description="the cutoff: entries available by then")
    reference: str | None
    failure_reason: str | None
    created_by: str
    created_at: dt.datetime
    settled_at: dt.datetime | None = Field(description="when marked paid or failed")
    settled_by: str | None


class RunStatusTotal(BaseModel):
    status: Status
    payouts: int
    amount: MoneyOut


class RunOut(BaseModel):
    id: int
    currency: str
    up_to: dt.date
    cutoff: dt.datetime
    affiliate_ids: list[int] | None
    created_by: str
    created_at: dt.datetime
    payouts: int
    amount: MoneyOut
    by_status: list[RunStatusTotal]


class PreviewLine(BaseModel):
    affiliate_id: int
    name: str
    amount: MoneyOut
    period_start: dt.datetime
    entries: int = Field(description="the ledger entries the payout would take")
    method: str | None = Field(description="paypal, wise or bank; null: no payment details")


class PreviewOut(BaseModel):
    currency: str
    up_to: dt.date
    cutoff: dt.datetime
    payouts: int
    amount: MoneyOut
    lines: list[PreviewLine]
