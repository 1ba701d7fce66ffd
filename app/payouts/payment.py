"""Where payouts read an affiliate's payment details: this one place.

The profile's `payment` (`method` paypal | wise | bank, with the method's details) is
stored encrypted by app/partners; `app.partners.profile.payment_details` is the one reader
of the ciphertext, and this maps its plain details onto what the export files need.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Executor
from app.partners import profile
from app.partners.payment import PaymentCipher


@dataclass(frozen=True, slots=True)
class PaymentDetails:
    method: str  # paypal | wise | bank
    email: str | None = None  # PayPal receiver, Wise recipient e-mail
    name: str | None = None  # account holder (Wise, bank)
    iban: str | None = None
    receiver_type: str = "PERSON"  # Wise: PERSON | INSTITUTION


def _text(value: object) -> str | None:
    return None if value is None else str(value)


async def payment_details(
    conn: Executor, affiliate_ids: list[int], cipher: PaymentCipher | None
) -> dict[int, PaymentDetails]:
    """Decrypted payment details of these affiliates (those that have some)."""
    plain = await profile.payment_details(conn, affiliate_ids=affiliate_ids, cipher=cipher)
    return {
        affiliate_id: PaymentDetails(
            method=str(d["method"]),
            email=_text(d.get("email")),
            name=_text(d.get("account_holder")),
            iban=_text(d.get("iban")),
        )
        for affiliate_id, d in plain.items()
    }
