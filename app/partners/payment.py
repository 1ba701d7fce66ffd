"""Affiliates' payment details: validated, encrypted at rest, shown masked.

The details are AES-256-GCM encrypted by this process (the database never sees them in
the clear), bound to their affiliate by the associated data so a ciphertext copied to
another row does not decrypt. Every read shows the masked copy stored beside them, so
only the payout export ever needs the key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.db import Executor
from app.errors import AppError
from app.partners import queries
from app.settings import Settings

logger = logging.getLogger(__name__)

KEY_FILE = "payment_data.key"
_VERSION = b"\x01"  # the format: version byte, 12-byte nonce, ciphertext and tag
_NONCE = 12


class PaymentKeyMissing(AppError, status=503, code="payment_key_missing"): ...


class PaymentCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("PAYMENT_DATA_KEY must be 32 bytes (URL-safe base64)")
        self._aead = AESGCM(key)

    def encrypt(self, affiliate_id: int, details: dict[str, Any]) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        sealed = self._aead.encrypt(nonce, orjson.dumps(details), _aad(affiliate_id))
        return _VERSION + nonce + sealed

    def decrypt(self, affiliate_id: int, blob: bytes) -> dict[str, Any]:
        if blob[:1] != _VERSION:
            raise ValueError("unknown payment data format")
        nonce, sealed = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        try:
            plain = self._aead.decrypt(nonce, sealed, _aad(affiliate_id))
        except InvalidTag:
            raise ValueError("payment data does not decrypt with this key") from None
        details: dict[str, Any] = orjson.loads(plain)
        return details


def _aad(affiliate_id: int) -> bytes:
    return f"affiliate:{affiliate_id}".encode()


def decode_key(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("PAYMENT_DATA_KEY is not URL-safe base64") from None


def _development_key(settings: Settings) -> bytes:
    """The key kept in the data folder, made on first use (development only)."""
    path = settings.tracker_data_dir / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
        logger.info("made a payment data key at %s", path)
    return decode_key(path.read_text())


async def open_cipher(*, settings: Settings, conn: Executor) -> PaymentCipher | None:
    """The cipher of this process, or None in production without PAYMENT_DATA_KEY, which
    is refused when payment details are stored already (they could not be read)."""
    if settings.payment_data_key is not None:
        return PaymentCipher(decode_key(settings.payment_data_key.get_secret_value()))
    if settings.environment == "development":
        return PaymentCipher(_development_key(settings))
    if await conn.fetchval(queries.ANY_PAYMENT_STORED):
        raise RuntimeError(
            "PAYMENT_DATA_KEY is not set, and affiliates' payment details are stored "
            "encrypted: set the key they were written with"
        )
    logger.warning("PAYMENT_DATA_KEY is not set: payment details cannot be saved")
    return None


def require(cipher: PaymentCipher | None) -> PaymentCipher:
    if cipher is None:
        raise PaymentKeyMissing("payment details cannot be saved: PAYMENT_DATA_KEY is not set")
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
