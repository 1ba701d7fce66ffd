"""Revenue and payout by rule, in Decimal, rounded half-even to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Literal

RuleType = Literal["fixed", "percent"]

# ISO 4217 minor units that are not 2 (the usual case). Four is the most NUMERIC(18, 4)
# holds, which covers every active currency.
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
# Enough digits that amount * percent is exact before the one rounding step.
_EXACT = Context(prec=60)


def minor_unit(currency: str) -> Decimal:
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
