"""What every stream record shares: JSON objects, and one way of being unusable."""

from __future__ import annotations

from typing import Any

import orjson


class PoisonRecord(ValueError):
    """A stream entry that can never be stored; it goes to the dead-letter stream."""


def load_record(raw: bytes, kind: str) -> dict[str, Any]:
    """The JSON object a record holds; PoisonRecord if it holds none."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PoisonRecord(f"not JSON: {exc}") from None
    if not isinstance(rec, dict):
        raise PoisonRecord(f"not a {kind} record")
    return rec
