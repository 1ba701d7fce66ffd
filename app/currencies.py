"""ISO 4217: the currencies money can be in, with their minor units.

The table is the `iso4217` package's copy of the standard's list (updated with it).
Codes without minor units (gold, the SDR, test and "no currency" codes) are not money
an offer can pay in, so they are left out.
"""

from __future__ import annotations

import iso4217

MINOR_UNITS: dict[str, int] = {
    currency.code: currency.exponent
    for currency in iso4217.Currency
    if currency.exponent is not None
}


def is_currency(code: str) -> bool:
    return code in MINOR_UNITS


def check_currency(code: str) -> str:
    """The code itself, or ValueError with a message fit for the API client."""
    if code not in MINOR_UNITS:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code such as USD or EUR")
    return code
