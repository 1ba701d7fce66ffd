"""Bodies of the coupons API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api_params import IdQuery
from app.catalog.fields import Id, Input
from app.pagination import AffiliatePage

CouponCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="unique per advertiser, whatever its case (SUMMER10 and summer10 are one)",
    ),
]
CouponStatus = Literal["active", "archived"]


class CouponQuery(AffiliatePage):
    offer_id: IdQuery = None
    advertiser_id: IdQuery = None
    status: CouponStatus | None = None


class CouponIn(Input):
    # One of the two, as an integer: what the validator below takes, stated in the schema.
    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"type": "integer"}}}
                for name in ("offer_id", "advertiser_id")
            ]
        }
    )

    code: CouponCode
    affiliate_id: Id
    offer_id: Id | None = Field(
        default=None, description="the offer it is valid on; omit for all of the advertiser's"
    )
    advertiser_id: Id | None = Field(
        default=None, description="required without offer_id; with one, must be its advertiser"
    )
    status: CouponStatus = "active"

    @model_validator(mode="after")
    def _scope(self) -> CouponIn:
        if self.offer_id is None and self.advertiser_id is None:
            raise ValueError("give offer_id or advertiser_id")
        return self


class CouponPatch(Input):
    status: CouponStatus


class CouponOut(BaseModel):
    id: int
    code: str
    affiliate_id: int
    offer_id: int | None
    advertiser_id: int
    status: CouponStatus
    created_at: datetime
    updated_at: datetime
