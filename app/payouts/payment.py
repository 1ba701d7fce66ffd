"""Where payouts read an affiliate's payment details: this one place.

The profile's `payment` (`method` paypal | wise | bank, with the method's details) is
stored encrypted by the partner-management half of issue 14 (app/partners on its own
branch, columns payment_encrypted / payment_masked of migration 0020). Until that lands
here, no affiliate has payment details: exports then leave every payout out and say so.
MERGE NOTE: replace the body of `payment_details` with that package's decryption.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Executor


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    method: str  # paypal | wise | bank
    email: str | None = None  # PayPal receiver, Wise recipient e-mail
    name: str | None = None  # account holder (Wise, bank)
    iban: str | None = None
    receiver_type: str = "PERSON"  # Wise: PERSON | INSTITUTION


async def payment_details(conn: Executor, affiliate_ids: list[int]) -> dict[int, PaymentDetails]:
    """Decrypted payment details of these affiliates (those that have some)."""
    del conn, affiliate_ids
    return {}
