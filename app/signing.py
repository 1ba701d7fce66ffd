"""HMAC-SHA256 request signatures, one scheme both ways.

Advertisers sign the postbacks they send us (app/postbacks checks them) and the sender
signs the postbacks it sends affiliates: `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." +
payload>`. The time is inside the MAC, so a captured signature cannot be given a new one.
"""

from __future__ import annotations

import hashlib
import hmac


def _digest(secret: str | bytes, timestamp: int, payload: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, timestamp: int, payload: bytes) -> str:
    """The signature header's value for `payload` at `timestamp`."""
    return f"t={timestamp},v1={_digest(secret, timestamp, payload)}"


def verify(secret: str | bytes, timestamp: int, payload: bytes, digest: str) -> bool:
    """Whether `digest` (the v1 value) signs `payload` at `timestamp`, in constant time."""
    expected = _digest(secret, timestamp, payload)
    return hmac.compare_digest(expected.encode(), digest.encode("ascii", "replace"))
