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


# A click ID in base32hex is 10 digits of time (the 48-bit millisecond and the top two
# bits of the version) and 16 digits holding the version's other two bits, the variant
# and the 74 random bits. The 16 are made in blocks, from one getrandom() per 4,096 IDs:
# each random byte is one digit, masked to the random bits its place holds (all of 5, or
# 3 or 4 beside the fixed bits, each as uniform as the byte), with the fixed bits set, and
# spelled by a translate(); a click then takes a slice. The time digits are made once a
# millisecond. A block is dropped in a forked child, which must not reuse it.
_TAIL = 16
_IDS = 4096
_BLOCK = _TAIL * _IDS
# Per place of the 16 (the ID's digits 10 to 25): the random bits kept, the fixed bits set.
_KEEP = bytes((0b00111, 0b11111, 0b11110, 0b01111, *[0b11111] * 11, 0b11100))
_SET = bytes((0b11000, 0, 0b00001, *[0] * 13))
_KEEP_ALL = int.from_bytes(_KEEP * _IDS)
_SET_ALL = int.from_bytes(_SET * _IDS)
_tails = ""
_offset = _BLOCK
_prefix_ms = -1
_prefix = ""


def _forget_random() -> None:
    global _tails, _offset
    _tails, _offset = "", _BLOCK


os.register_at_fork(after_in_child=_forget_random)


def new_click_id() -> tuple[str, int]:
    """A fresh click ID and its millisecond timestamp."""
    global _tails, _offset, _prefix_ms, _prefix
    offset = _offset
    if offset >= _BLOCK:
        digits = (int.from_bytes(os.urandom(_BLOCK)) & _KEEP_ALL) | _SET_ALL
        _tails, offset = digits.to_bytes(_BLOCK).translate(_SPELL).decode("ascii"), 0
    _offset = offset + _TAIL
    ms = time.time_ns() // 1_000_000
    if ms != _prefix_ms:
        _prefix_ms, _prefix = ms, _base32hex((ms << 80) | _VERSION_7)[:10]
    return _prefix + _tails[offset : offset + _TAIL], ms


# base32hex in lower case, two digits (10 bits) per lookup: the 128 bits shifted left by
# two are 13 pairs. A third of base64.b32hexencode's time, which is pure Python.
_DIGITS = "0123456789abcdefghijklmnopqrstuv"
_PAIRS = [a + b for a in _DIGITS for b in _DIGITS]
# A byte under 32 -> its digit, as translate() reads a table.
_SPELL = bytes(ord(_DIGITS[b & 31]) for b in range(256))
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
    return _uuid(value)


_new = object.__new__
_set = object.__setattr__
_UNKNOWN = uuid.SafeUUID.unknown


def _uuid(value: int) -> uuid.UUID:
    """`uuid.UUID(int=value)` for a value known to be 128 bits: the two slots it sets,
    without its pure-Python argument checks (a third of its time)."""
    made = _new(uuid.UUID)
    _set(made, "int", value)
    _set(made, "is_safe", _UNKNOWN)
    return made


def click_time(click_uuid: uuid.UUID) -> datetime:
    """The time a UUIDv7 click ID was made (the clicks table is partitioned by it)."""
    return datetime.fromtimestamp((click_uuid.int >> 80) / 1000, tz=UTC)


def format_click_id(click_uuid: uuid.UUID) -> str:
    """The 26-character form of a click ID (what the redirect put in the URL and cookie)."""
    return _base32hex(click_uuid.int)
