"""Click IDs: UUIDv7 (48-bit millisecond time, 74 random bits) in 26 base32hex characters.

Made in-process before any I/O, so the 302 can carry the ID whatever Redis does.
base32hex keeps the time order of the bytes in the text, so IDs sort by time as strings.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

_VERSION_7 = 0x7 << 76
_VARIANT = 0x2 << 62
_RANDOM_MASK = (1 << 74) - 1
_RAND_A_SHIFT = 62
_RAND_B_MASK = (1 << 62) - 1


# Random bytes are drawn from the OS in blocks: one getrandom() per 4,096 IDs instead of
# one per click. The block is dropped in a forked child, which must not reuse it.
_BLOCK = 10 * 4096
_random = b""
_offset = _BLOCK


def _forget_random() -> None:
    global _random, _offset
    _random, _offset = b"", _BLOCK


os.register_at_fork(after_in_child=_forget_random)


def new_click_id() -> tuple[str, int]:
    """A fresh click ID and its millisecond timestamp."""
    global _random, _offset
    if _offset >= _BLOCK:
        _random, _offset = os.urandom(_BLOCK), 0
    rand = int.from_bytes(_random[_offset : _offset + 10]) & _RANDOM_MASK
    _offset += 10
    ms = time.time_ns() // 1_000_000
    value = (
        (ms << 80) | _VERSION_7 | ((rand >> _RAND_A_SHIFT) << 64) | _VARIANT | (rand & _RAND_B_MASK)
    )
    return _base32hex(value), ms


# base32hex in lower case, two digits (10 bits) per lookup: the 128 bits shifted left by
# two are 13 pairs. A third of base64.b32hexencode's time, which is pure Python.
_DIGITS = "0123456789abcdefghijklmnopqrstuv"
_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]
_SHIFTS = range(120, -1, -10)


def _base32hex(value: int) -> str:
    shifted = value << 2
    return "".join([_PAIRS[(shifted >> shift) & 1023] for shift in _SHIFTS])


# Click IDs made before this (2020-01-01) or more than a day ahead of the clock are not
# ours: refusing them keeps absurd partition times (year 10889) out of the pipeline.
_EARLIEST_MS = 1_577_836_800_000
_CLOCK_SKEW_MS = 86_400_000


def parse_click_id(text: str) -> uuid.UUID | None:
    """The UUID of a click ID in our 26-character form or the canonical UUID form; None
    unless it is a well-formed UUIDv7 made at a plausible time."""
    text = text.strip().lower()
    if len(text) == 26:
        # The base32hex digits are int()'s base-32 digits: 130 bits, the UUID's 128 and
        # two unused ones, which must be zero (set, they would spell some other ID again).
        # One int() instead of a base32 decode and the encode to compare spellings.
        if not (text.isascii() and text.isalnum()):
            return None
        try:
            value = int(text, 32)
        except ValueError:
            return None
        if value & 0b11:
            return None
        value >>= 2
    elif len(text) == 36:
        try:
            value = uuid.UUID(text).int
        except ValueError:
            return None
    else:
        return None
    # Version 7 and the RFC 4122 variant (bits 10 at 63-62), as UUID.version checks them.
    if (value >> 76) & 0xF != 7 or (value >> 62) & 0b11 != 0b10:
        return None
    ms = value >> 80
    if not _EARLIEST_MS <= ms <= time.time_ns() // 1_000_000 + _CLOCK_SKEW_MS:
        return None
    return uuid.UUID(int=value)


def click_time(click_uuid: uuid.UUID) -> datetime:
    """The time a UUIDv7 click ID was made (the clicks table is partitioned by it)."""
    return datetime.fromtimestamp((click_uuid.int >> 80) / 1000, tz=UTC)


def format_click_id(click_uuid: uuid.UUID) -> str:
    """The 26-character form of a click ID (what the redirect put in the URL and cookie)."""
    return _base32hex(click_uuid.int)
