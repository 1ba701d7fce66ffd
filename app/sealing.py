"""Secrets at rest: the one owner of the key and of AES-256-GCM sealing.

What the service must read back (affiliates' payment details, webhook signing secrets,
CRM integrations' HMAC keys) is sealed by this process with `DATA_KEY` (the database
never sees it in the clear). The associated data names the table, the row and the
purpose, so a sealed value copied to another row or column does not open. Binary form: a
version byte, a 12-byte nonce, the ciphertext and its tag; in text columns, that as
URL-safe base64 behind PREFIX. A text value without PREFIX is one stored before sealing
(opened as it is until `tracker seal-secrets` seals it).

Without DATA_KEY, development makes one under TRACKER_DATA_DIR (keeping an older
`payment_data.key`); production starts without one only while nothing is sealed, and
then refuses to seal (503 `data_key_missing`). A key that does not open what is stored
refuses to start, and a value that does not open answers 503 `data_key_wrong`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.db import Executor
from app.errors import AppError
from app.settings import Settings

logger = logging.getLogger(__name__)

KEY_FILE = "data.key"
LEGACY_KEY_FILE = "payment_data.key"  # the development key before DATA_KEY was shared
PREFIX = "sealed:1:"
_VERSION = b"\x01"
_NONCE = 12


class DataKeyMissing(AppError, status=503, code="data_key_missing"): ...


class DataKeyWrong(AppError, status=503, code="data_key_wrong"): ...


def context(table: str, row_id: int, purpose: str) -> bytes:
    """The associated data of one sealed value: where it belongs and what it is."""
    return f"{table}:{row_id}:{purpose}".encode()


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("DATA_KEY must be 32 bytes (URL-safe base64)")
        self._aead = AESGCM(key)

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plain, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        if blob[:1] != _VERSION:
            raise DataKeyWrong("a sealed value has an unknown format")
        try:
            return self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
        except InvalidTag:
            raise DataKeyWrong(
                "a stored secret does not open with this DATA_KEY (or was moved)"
            ) from None

    def seal_text(self, plain: str, aad: bytes) -> str:
        return PREFIX + base64.urlsafe_b64encode(self.seal(plain.encode(), aad)).decode()

    def open_text(self, stored: str, aad: bytes) -> str:
        """A text column's secret: sealed, or stored before sealing (as it is)."""
        if not is_sealed(stored):
            return stored
        try:
            blob = base64.urlsafe_b64decode(stored[len(PREFIX) :])
        except (binascii.Error, ValueError):
            raise DataKeyWrong("a sealed value is not base64") from None
        return self.open(blob, aad).decode()


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def open_text(sealer: Sealer | None, stored: str, aad: bytes) -> str:
    """`stored` opened; a sealed one without a key is a 503 (a dependency missing)."""
    if not is_sealed(stored):
        return stored
    return require(sealer).open_text(stored, aad)


def require(sealer: Sealer | None) -> Sealer:
    if sealer is None:
        raise DataKeyMissing("secrets cannot be sealed or opened: DATA_KEY is not set")
    return sealer


def decode_key(text: str) -> bytes:
    text = text.strip()
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("DATA_KEY is not URL-safe base64") from None


def _development_key(settings: Settings) -> bytes:
    """The key kept in the data folder, made on first use (development only)."""
    folder = settings.tracker_data_dir
    legacy = folder / LEGACY_KEY_FILE
    path = folder / KEY_FILE
    if not path.exists() and legacy.exists():
        path = legacy  # payment details sealed before the key was shared open with it
    elif not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process of `tracker dev` made it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
            logger.info("made a data key at %s", path)
    return decode_key(path.read_text())


def sealer_of(settings: Settings) -> Sealer | None:
    """This process's sealer: DATA_KEY (or PAYMENT_DATA_KEY), the development key, or
    None in production without a key."""
    if settings.data_key is not None:
        return Sealer(decode_key(settings.data_key.get_secret_value()))
    if settings.environment == "development":
        return Sealer(_development_key(settings))
    return None


def _opens(sealer: Sealer, value: str | bytes, aad: bytes) -> bool:
    try:
        if isinstance(value, str):
            sealer.open_text(value, aad)
        else:
            sealer.open(bytes(value), aad)
    except DataKeyWrong:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of sealed value, for the start-up check: `sample` selects one stored
    sealed value as (row id, value: bytea or PREFIX text), `aads` the associated data it
    may have been sealed with (an older form too)."""

    what: str
    sample: str
    aads: Callable[[int], Sequence[bytes]]


async def open_sealer(
    *, settings: Settings, conn: Executor, kinds: Sequence[Kind]
) -> Sealer | None:
    """The sealer of this process, checked against what is stored: refuses to start when
    the key does not open it, or is missing while anything is sealed."""
    sealer = sealer_of(settings)
    for kind in kinds:
        row = await conn.fetchrow(kind.sample)
        if row is None:
            continue
        if sealer is None:
            raise RuntimeError(
                f"DATA_KEY is not set, and {kind.what} are stored sealed: "
                "set the key they were sealed with"
            )
        if not any(_opens(sealer, row[1], aad) for aad in kind.aads(int(row[0]))):
            raise RuntimeError(
                f"DATA_KEY does not open the stored {kind.what}: set the key they were sealed with"
            )
    if sealer is None:
        logger.warning("DATA_KEY is not set: secrets and payment details cannot be saved")
    return sealer
