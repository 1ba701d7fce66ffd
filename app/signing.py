"""HMAC-SHA256 request signatures.

Postbacks use one scheme both ways. Advertisers sign the postbacks they send us
(app/postbacks checks them) and the sender signs the postbacks it sends affiliates:
`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + payload>`. The time is inside the MAC, so
a captured signature cannot be given a new one.

Webhooks use the Standard Webhooks scheme (below), which receivers verify with its
libraries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


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


# Standard Webhooks (standardwebhooks.com, v1): outbound webhooks are signed so that any
# receiver can verify them with that specification's libraries (`standardwebhooks`, `svix`).
WEBHOOK_SECRET_PREFIX = "whsec_"
WEBHOOK_SECRET_BYTES = 32  # the specification allows 24 to 64


def new_webhook_secret() -> str:
    """A fresh `whsec_<base64 of 32 random bytes>` secret."""
    raw = secrets.token_bytes(WEBHOOK_SECRET_BYTES)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(raw).decode()


def webhook_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: its base64-decoded part."""
    return base64.b64decode(secret.removeprefix(WEBHOOK_SECRET_PREFIX))


def webhook_signature(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
    keyed with the base64-decoded part of the `whsec_` secret (or `secret` is that key,
    from `webhook_key`, worked out once for many signatures)."""
    key = webhook_key(secret) if isinstance(secret, str) else secret
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(key, signed, "sha256")).decode()
