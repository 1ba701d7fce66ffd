"""Revenue and payout by rule, in Decimal, rounded half-even to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Literal

from app.currencies import MINOR_UNITS

RuleType = Literal["fixed", "percent"]

# Enough digits that amount * percent is exact before the one rounding step.
_EXACT = Context(prec=60)


def minor_unit(currency: str) -> Decimal:
    # Offers stored before currencies were checked may hold another code: two decimals.
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency.upper(), 2))


def round_money(value: Decimal, currency: str) -> Decimal:
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_EVEN, context=_EXACT)


def by_rule(
    kind: RuleType | str, value: Decimal, *, amount: Decimal | None, currency: str
) -> Decimal:
    """A fixed amount, or `value` percent of the sale `amount` (none sent: nothing)."""
    if kind == "fixed":
        return round_money(value, currency)
    base = amount if amount is not None else Decimal(0)
    return round_money(_EXACT.divide(_EXACT.multiply(base, value), Decimal(100)), currency)
