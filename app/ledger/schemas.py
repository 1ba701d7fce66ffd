"""Bodies of the ledger API: entries, manual entries, balances."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from app.attribution.money import round_money
from app.catalog.fields import Currency, Id, Input
from app.currencies import MINOR_UNITS
from app.money import format_money, parse_money

Kind = Literal["commission", "reversal", "clawback", "bonus", "adjustment", "payout"]
State = Literal[
    "pending", "held", "available", "in_payout", "paid", "owed_back", "cancelled", "payout"
]
SIGNED_MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2,4}$"


def parse_signed_money(value: object) -> Decimal:
    """A non-zero amount of at most four decimals, negative with a leading minus."""
    negative = isinstance(value, str) and value.strip().startswith("-")
    if negative:
        assert isinstance(value, str)
        value = value.strip()[1:]
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool) and value < 0:
        negative, value = True, -value
    amount = parse_money(value)
    if amount == 0:
        raise ValueError("must not be zero")
    return -amount if negative else amount


SignedMoney = Annotated[
    Decimal,
    BeforeValidator(parse_signed_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^ *-?(?:0*[0-9]{1,14}(?:\.[0-9]{0,4})?|\.[0-9]{1,4}) *$",
            "description": 'a non-zero decimal string such as "25.00" or "-10.00"',
        }
    ),
]
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": SIGNED_MONEY_PATTERN}),
]


class ManualEntryIn(Input):
    affiliate_id: Id
    currency: Currency
    kind: Literal["bonus", "adjustment"]
    amount: SignedMoney = Field(description="positive credits the affiliate, negative debits")
    reason: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _minor_units(self) -> ManualEntryIn:
        # Payouts pay whole minor units (cents): a fraction of one could never leave.
        if round_money(self.amount, self.currency) != self.amount:
            raise ValueError(f"amount: {self.currency} has {MINOR_UNITS[self.currency]} decimals")
        return self


class EntryOut(BaseModel):
    id: int
    affiliate_id: int
    currency: str
    kind: Kind
    amount: MoneyOut
    state: State = Field(
        description="derived now: pending (conversion not approved), held (until "
        "available_at), available, in_payout, paid, owed_back (a clawback not netted "
        "yet), cancelled (a reversed commission and its reversal), payout (money moved)"
    )
    available_at: datetime | None = Field(description="when the entry is or was payable")
    conversion_id: int | None
    payout_id: int | None = Field(description="payout entries: the payout")
    taken_by_payout_id: int | None = Field(description="the live payout that took the entry")
    reverses: int | None = Field(description="reversal, clawback: the commission cancelled")
    reason: str | None
    created_by: str
    created_at: datetime


class CurrencyBalance(BaseModel):
    currency: str
    pending: MoneyOut = Field(description="commissions of conversions not approved yet")
    held: MoneyOut = Field(description="approved, within the offer's hold_days")
    available: MoneyOut = Field(description="payable (bonuses and adjustments included)")
    in_payout: MoneyOut = Field(description="taken by a payout not paid yet")
    paid: MoneyOut = Field(description="taken by paid payouts (clawbacks netted off)")
    owed_back: MoneyOut = Field(description="clawbacks no payout has netted off yet")
    payable: MoneyOut = Field(description="available - owed_back: what a payout would take")
    threshold: MoneyOut = Field(description="the smallest payout in this currency")


class BalanceOut(BaseModel):
    affiliate_id: int
    balances: list[CurrencyBalance]
