"""HubSpot's request signature, version 3, checked as HubSpot documents it.

developers.hubspot.com, "Validating requests" (v3): the `X-HubSpot-Signature-v3` header
is the base64 HMAC-SHA256, keyed with the app's client secret, of the UTF-8 string
`method + URI + body + timestamp`, no separators, where the timestamp is the
`X-HubSpot-Request-Timestamp` header (Unix milliseconds) and the URI the full URL HubSpot
requested (scheme, host, path and query string as sent). A request older than 5 minutes
is refused. HubSpot's guide also lists a few percent-escapes (`%3A` -> `:` and so on) to
decode in the URI before signing, which its own SDKs do not do: both readings are
compared, each in constant time, so a URI with none of them (the usual case) is the same.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from app.errors import AppError

SIGNATURE_HEADER = "x-hubspot-signature-v3"
TIMESTAMP_HEADER = "x-hubspot-request-timestamp"
MAX_AGE_MS = 5 * 60 * 1000
# The escapes HubSpot's v3 guide says to decode in the URI (its table, as listed).
_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class InvalidSignature(AppError, status=401, code="invalid_signature"): ...


def sign(secret: str, *, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot sends for this request."""
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def decoded_uri(uri: str) -> str:
    for escape, char in _ESCAPES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


def verify(
    secret: str, *, method: str, uri: str, body: bytes, headers: Mapping[str, str], now_ms: int
) -> bytes:
    """Raise InvalidSignature unless the request is signed and recent; the signature's
    bytes (the key an exact replay is known by) when it is."""
    given = headers.get(SIGNATURE_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    if not given or not stamp:
        raise InvalidSignature(f"send {SIGNATURE_HEADER} and {TIMESTAMP_HEADER}")
    stamp = stamp.strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 15):
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be Unix milliseconds")
    # Older than 5 minutes is refused; so is a time as far ahead (a clock that far off
    # would let a captured request live longer).
    if abs(now_ms - int(stamp)) > MAX_AGE_MS:
        raise InvalidSignature("the signature is older than 5 minutes (or from the future)")
    given_bytes = given.strip().encode("ascii", "replace")
    matches = [
        hmac.compare_digest(
            sign(secret, method=method, uri=candidate, body=body, timestamp=stamp).encode(),
            given_bytes,
        )
        for candidate in (uri, decoded_uri(uri))
    ]
    if not any(matches):
        raise InvalidSignature("the signature does not match")
    return given_bytes + b"|" + stamp.encode()
