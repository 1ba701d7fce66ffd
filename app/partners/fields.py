"""The profile's field types: country, website, contact, tags and payment details, each
validated as strictly as its format allows (an IBAN by its checksum, a country by ISO
3166-1), with the JSON Schema saying the same."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Literal

import iso3166
from pydantic import AfterValidator, BaseModel, Field, WithJsonSchema, model_validator
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from app.catalog.fields import Email, Input

STATUSES = ("applied", "active", "rejected", "suspended", "archived")
Status = Literal["applied", "active", "rejected", "suspended", "archived"]
# `paused` (before issue 14) is taken as `suspended` wherever a status is written.
PAUSED_ALIAS = "paused"


# Each pattern is what the validator checks first and what the OpenAPI document states;
# an IBAN's checksum and a BIC's country are checked after it (schwifty).
WEBSITE_PATTERN = r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?(/[\x21-\x7e]*)?$"
IBAN_PATTERN = r"^[A-Z]{2}[0-9]{2}[A-Z0-9 ]{10,40}$"
BIC_PATTERN = r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$"
COUNTRIES = sorted(iso3166.countries_by_alpha2)


def _matching(pattern: str, what: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value[:60]!r} is not {what}")
        return value

    return check


def _country(value: str) -> str:
    if value not in iso3166.countries_by_alpha2:
        raise ValueError(f"{value[:10]!r} is not an ISO 3166-1 alpha-2 country code (upper case)")
    return value


def _iban(value: str) -> str:
    try:
        return str(IBAN(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"not a valid IBAN: {exc}") from None


def _bic(value: str) -> str:
    try:
        return str(BIC(value).compact)
    except SchwiftyException as exc:
        raise ValueError(f"not a valid BIC: {exc}") from None


Country = Annotated[
    str,
    AfterValidator(_country),
    WithJsonSchema({"type": "string", "enum": COUNTRIES, "description": "ISO 3166-1 alpha-2"}),
]
Website = Annotated[
    str,
    Field(max_length=2048),
    AfterValidator(_matching(WEBSITE_PATTERN, "an http or https URL")),
    WithJsonSchema({"type": "string", "maxLength": 2048, "pattern": WEBSITE_PATTERN}),
]
Iban = Annotated[
    str,
    AfterValidator(_matching(IBAN_PATTERN, "an IBAN (upper case)")),
    AfterValidator(_iban),
    WithJsonSchema({"type": "string", "pattern": IBAN_PATTERN, "description": "checksum too"}),
]
Bic = Annotated[
    str,
    AfterValidator(_matching(BIC_PATTERN, "a BIC (upper case)")),
    AfterValidator(_bic),
    WithJsonSchema({"type": "string", "pattern": BIC_PATTERN}),
]
# Visible text: Input strips whitespace, so a value of spaces alone is no value (the
# pattern says so to the schema's readers).
Visible = r"\S"
Holder = Annotated[str, Field(min_length=1, max_length=200, pattern=Visible)]
AccountNumber = Annotated[str, Field(pattern=r"^[0-9A-Za-z-]{4,34}$")]
Tag = Annotated[str, Field(pattern=r"^[A-Za-z0-9 _.:-]{1,50}$")]
Tags = Annotated[list[Tag], Field(max_length=50)]
Company = Annotated[str, Field(min_length=1, max_length=200, pattern=Visible)]


class Contact(Input):
    channel: Literal["email", "telegram", "whatsapp", "skype", "phone"]
    handle: str = Field(min_length=1, max_length=200, pattern=Visible)


class PaypalPayment(Input):
    method: Literal["paypal"]
    email: Email


class WisePayment(Input):
    """A Wise recipient: its e-mail, or its holder and an IBAN or account number."""

    method: Literal["wise"]
    email: Email | None = None
    account_holder: Holder | None = None
    iban: Iban | None = None
    account_number: AccountNumber | None = None

    @model_validator(mode="after")
    def _one_way(self) -> WisePayment:
        account = self.iban is not None or self.account_number is not None
        if self.email is None and not (self.account_holder is not None and account):
            raise ValueError("wise needs email, or account_holder with iban or account_number")
        return self


class BankPayment(Input):
    method: Literal["bank"]
    account_holder: Holder
    iban: Iban
    bic: Bic


Payment = Annotated[PaypalPayment | WisePayment | BankPayment, Field(discriminator="method")]


class MaskedPayment(BaseModel):
    """Payment details as every read shows them: `j***@example.com`, `DE89 **** **** 3000`."""

    method: Literal["paypal", "wise", "bank"]
    email: str | None = None
    account_holder: str | None = None
    iban: str | None = None
    account_number: str | None = None
    bic: str | None = None


class ContactOut(BaseModel):
    channel: str
    handle: str


class Application(BaseModel):
    traffic_sources: str | None = None
    message: str | None = None
    terms_version: str | None = None
    applied_at: str
