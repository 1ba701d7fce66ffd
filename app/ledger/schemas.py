"""Bodies of the ledger API: entries, manual entries, balances."""

from __future__ import annotations

import re
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
from app.money import format_money
from app.pagination import AffiliateAliasPage

Kind = Literal["commission", "reversal", "clawback", "bonus", "adjustment", "payout"]


class LedgerQuery(AffiliateAliasPage):
    currency: Currency | None = None
    kind: Kind | None = None


State = Literal[
    "pending", "held", "available", "in_payout", "paid", "owed_back", "cancelled", "payout"
]
SIGNED_MONEY_PATTERN = r"^-?[0-9]+\.[0-9]{2,4}$"  # as responses write money
_SPACE = r"[ \t\n\r\f\v]*"
# A non-zero amount with a leading minus for a debit, at most 14 whole digits and four
# decimals (NUMERIC(18, 4)), ASCII spaces around it aside; no lookahead (Hypothesis, which
# Schemathesis draws with, cannot generate from one): a non-zero digit before the point,
# or else one among the decimals.
SIGNED_AMOUNT = (
    rf"^{_SPACE}-?(?:0*[1-9][0-9]{{0,13}}(?:\.[0-9]{{0,4}})?"
    rf"|0*\.(?:[1-9][0-9]{{0,3}}|0[1-9][0-9]{{0,2}}|00[1-9][0-9]?|000[1-9])){_SPACE}$"
)
_SIGNED_AMOUNT = re.compile(SIGNED_AMOUNT)


def parse_signed_money(value: object) -> Decimal:
    """Exactly the text SIGNED_AMOUNT admits (a JSON number is refused: a new field, and a
    binary float is no way to write money)."""
    if not isinstance(value, str) or _SIGNED_AMOUNT.fullmatch(value) is None:
        raise ValueError('must be a non-zero decimal string such as "25.00" or "-10.00"')
    return Decimal(value.strip(" \t\n\r\f\v"))


SignedMoney = Annotated[
    Decimal,
    BeforeValidator(parse_signed_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SIGNED_AMOUNT,
            "description": 'a non-zero decimal string such as "25.00" or "-10.00", in whole '
            "minor units of the currency (cents: two decimals for USD, none for JPY)",
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
