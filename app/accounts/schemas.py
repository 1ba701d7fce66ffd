"""The users API's bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from app.catalog.fields import Email, Id, Input, Name
from app.stats import zones

UserRole = Literal["owner", "manager", "affiliate"]
LOCALE = r"^[a-z]{2,3}(_[A-Z][a-z]{3})?(_[A-Z]{2}|_[0-9]{3})?$"
TimeZone = Field(default="UTC", min_length=1, max_length=64, description="an IANA time zone")


class UserIn(Input):
    email: Email
    name: Name | None = None
    role: UserRole
    affiliate_id: Id | None = Field(default=None, description="an affiliate user's affiliate")

    @model_validator(mode="after")
    def _affiliate_for_affiliates(self) -> UserIn:
        if (self.role == "affiliate") != (self.affiliate_id is not None):
            raise ValueError("affiliate_id is required for an affiliate user, and only for one")
        return self


class UserPatch(Input):
    name: Name | None = None
    time_zone: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=zones.TZ_NAME,
        description="an IANA time zone",
    )
    locale: str | None = Field(
        default=None,
        min_length=2,
        max_length=16,
        pattern=LOCALE,
        description="how the portal writes the user's numbers and amounts: a CLDR locale "
        "such as en_US, de_DE, fr or pt_BR",
    )
    disabled: bool | None = Field(default=None, description="true signs the user out everywhere")


class UserOut(BaseModel):
    id: int
    email: str
    name: str | None
    role: UserRole
    affiliate_id: int | None
    key_id: int | None = Field(
        description="an owner's or manager's identity key: the admin key ID that "
        "affiliates' manager_id and change records name them by (it never authenticates)"
    )
    time_zone: str
    locale: str
    disabled: bool
    has_password: bool
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class InviteOut(BaseModel):
    user_id: int
    mail_id: int
    expires_at: datetime


class SignedOut(BaseModel):
    user_id: int
    sessions_ended: int
