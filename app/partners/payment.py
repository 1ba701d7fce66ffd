"""Affiliates' payment details: validated, sealed at rest (app/sealing.py), shown masked.

The details are sealed by this process with DATA_KEY, bound to their affiliate's row by
the associated data so a ciphertext copied to another row does not open. Every read
shows the masked copy stored beside them, so only the payout export ever needs the key.
"""

from __future__ import annotations

from typing import Any

import orjson

from app import sealing
from app.errors import AppError
from app.partners import queries


class PaymentKeyMissing(AppError, status=503, code="payment_key_missing"): ...


# Where app/sealing.py's start-up check finds a sealed value of this kind.
SEALED = sealing.Kind(
    what="affiliates' payment details",
    sample=queries.SEALED_PAYMENT_SAMPLE,
    aads=lambda affiliate_id: (_aad(affiliate_id), _legacy_aad(affiliate_id)),
)


class PaymentCipher:
    """Payment details as the sealer seals them, in their affiliate's row."""

    def __init__(self, sealer: sealing.Sealer) -> None:
        self._sealer = sealer

    @classmethod
    def of_key(cls, key: bytes) -> PaymentCipher:
        return cls(sealing.Sealer(key))

    def encrypt(self, affiliate_id: int, details: dict[str, Any]) -> bytes:
        return self._sealer.seal(orjson.dumps(details), _aad(affiliate_id))

    def decrypt(self, affiliate_id: int, blob: bytes) -> dict[str, Any]:
        try:
            plain = self._sealer.open(blob, _aad(affiliate_id))
        except sealing.DataKeyWrong:
            # Sealed before the associated data named the purpose (the same key).
            plain = self._sealer.open(blob, _legacy_aad(affiliate_id))
        details: dict[str, Any] = orjson.loads(plain)
        return details


def _aad(affiliate_id: int) -> bytes:
    return sealing.context("affiliates", affiliate_id, "payment_details")


def _legacy_aad(affiliate_id: int) -> bytes:
    return f"affiliate:{affiliate_id}".encode()


def cipher_of(sealer: sealing.Sealer | None) -> PaymentCipher | None:
    return None if sealer is None else PaymentCipher(sealer)


def require(cipher: PaymentCipher | None) -> PaymentCipher:
    if cipher is None:
        raise PaymentKeyMissing("payment details cannot be saved: DATA_KEY is not set")
    return cipher


# --- masking -------------------------------------------------------------------------


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_iban(iban: str) -> str:
    return f"{iban[:4]} **** **** {iban[-4:]}"


def mask_number(number: str) -> str:
    return f"****{number[-4:]}"


def mask_name(name: str) -> str:
    return " ".join(f"{word[:1]}***" for word in name.split())


_MASKS = {
    "email": mask_email,
    "iban": mask_iban,
    "account_number": mask_number,
    "account_holder": mask_name,
}


def masked(details: dict[str, Any]) -> dict[str, Any]:
    """What reads show: the method and BIC as they are, the rest cut to a hint."""
    return {
        name: _MASKS[name](value) if name in _MASKS and value is not None else value
        for name, value in details.items()
    }
