"""One-click unsubscribe tokens: the URL itself names the affiliate and the list.

A token is URL-safe base64 of the affiliate ID (8 bytes), the list (1 byte) and the first
16 bytes of an HMAC-SHA256 over those 9 bytes. The key lives in PostgreSQL
(mail_signing_key), made by the first process that needs it, so every web process and
sender agree with no setting to manage; nothing but the token is needed to unsubscribe
(RFC 8058: no cookies, no login), so the token is the credential.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct

from app.db import Executor
from app.mail import queries

LIST_NAMES = ("announcements", "digest", "offer_changes")
_MAC_BYTES = 16


async def signing_key(conn: Executor) -> bytes:
    await conn.execute(queries.ENSURE_SIGNING_KEY, secrets.token_bytes(32))
    key: bytes = await conn.fetchval(queries.SIGNING_KEY)
    return key


def make_token(key: bytes, *, affiliate_id: int, list_name: str) -> str:
    payload = struct.pack(">QB", affiliate_id, LIST_NAMES.index(list_name))
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(payload + mac).decode().rstrip("=")


def read_token(key: bytes, token: str) -> tuple[int, str] | None:
    """(affiliate_id, list) of a token this key signed, or None."""
    if len(token) > 64 or not token.isascii():
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling: base64's spare low bits of the last character would
    # otherwise give each token several spellings.
    if len(raw) != 9 + _MAC_BYTES or base64.urlsafe_b64encode(raw).decode().rstrip("=") != token:
        return None
    payload, mac = raw[:9], raw[9:]
    expected = hmac.new(key, payload, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        return None
    affiliate_id, index = struct.unpack(">QB", payload)
    if index >= len(LIST_NAMES):
        return None
    return affiliate_id, LIST_NAMES[index]


async def unsubscribe(conn: Executor, *, affiliate_id: int, list_name: str) -> bool:
    """Take the affiliate off the list; False when there is no such affiliate."""
    if list_name not in LIST_NAMES:
        raise ValueError(list_name)
    sql = queries.UNSUBSCRIBE.format(column=list_name)
    return await conn.fetchval(sql, affiliate_id) is not None
