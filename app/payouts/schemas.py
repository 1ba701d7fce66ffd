"""Bodies of the payouts API."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from app.catalog.fields import Currency, Id, Input
from app.ledger.schemas import MoneyOut

Status = Literal["requested", "pending", "paid", "failed"]
STATUS_DOC = (
    "requested (by the affiliate) or pending (made by a run) until marked paid or failed; "
    "a failed payout's money is available again"
)


class RunIn(Input):
    currency: Currency
    up_to: dt.date = Field(
        strict=False,  # an ISO date string (strict would want a date object)
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
