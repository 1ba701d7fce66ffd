"""GET /c/{code}: the hot path, as plain ASGI in front of FastAPI.

FastAPI's routing and validation cost about 4x on a request this small, so tracking
links never reach it. Per click: a dict lookup, a click ID, the query parsed for the
few names we use, one record queued for the group-committed XADD, and the 302 once
Redis (or the local spool, if Redis is down or slow) holds the click.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, unquote_to_bytes

from app.caps.clicks import counter_args
from app.clickid import new_click_id
from app.clicks import record as click_record
from app.privacy import anonymize
from app.proxies import TrustedProxies
from app.redirect.cache import LinkCache
from app.streams.durable_queue import CommitFailed, DurableQueue

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/c/"
MAX_VALUE_CHARS = 1024
SUB_PARAMS = (b"sub1", b"sub2", b"sub3", b"sub4", b"sub5", b"source", b"aff_click_id")
_WANTED = frozenset(SUB_PARAMS)
_HEADERS = (b"user-agent", b"referer", b"accept-language", b"x-forwarded-for", b"x-forwarded-proto")
NOT_FOUND_BODY = b"Not found\n"
UNAVAILABLE_BODY = b"This offer is not available.\n"


def parse_sub_ids(query: bytes) -> dict[str, tuple[str, str]]:
    """Sub-ID parameters as (pass-through value, storable value), each cut to 1,024 chars.

    The pass-through value keeps bytes that are not UTF-8 (as surrogate escapes) so the
    Location carries exactly what the visitor sent; the storable value replaces them,
    and NUL, which PostgreSQL text cannot hold. The first occurrence of a name wins.
    """
    found: dict[str, tuple[str, str]] = {}
    if not query:
        return found
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name not in _WANTED:
            continue
        key = name.decode()
        if key in found:
            continue
        raw = unquote_to_bytes(value.replace(b"+", b" "))
        try:
            text = raw.decode()
            passthrough = text[:MAX_VALUE_CHARS]
            stored = passthrough.replace("\x00", "\ufffd")
        except UnicodeDecodeError:
            passthrough = raw.decode("utf-8", "surrogateescape")[:MAX_VALUE_CHARS]
            stored = (
                passthrough.encode("utf-8", "surrogateescape")
                .decode("utf-8", "replace")
                .replace("\x00", "\ufffd")
            )
        found[key] = (passthrough, stored)
    return found


def fill_parts(parts: tuple[str, ...], values: dict[str, str]) -> str:
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        else:
            value = values.get(part)
            if value:
                out.append(quote(value, safe="", errors="surrogateescape"))
    return "".join(out)


class Redirector:
    """The redirect path, built complete by the app's lifespan (app.redirect.service)."""

    def __init__(
        self,
        *,
        cache: LinkCache,
        queue: DurableQueue,
        cookie_name: str,
        trusted_proxies: TrustedProxies,
        anonymize_ip: bool = False,
    ) -> None:
        self._cookie_prefix = f"{cookie_name}=".encode()
        # IP_ANONYMIZE: only the /24 or /48 goes into the record (app.privacy.anonymize).
        self.anonymize_ip = anonymize_ip
        self.trusted = trusted_proxies
        self.cache = cache
        self.queue = queue

    async def handle(self, scope: Scope, send: Send) -> None:
        code = scope["path"][len(PREFIX) :]
        target = self.cache.get(code)
        if target is None or target.diverted is not None:
            # Not a plain hit: the link may be new or re-activated since the cache loaded.
            target = await self.cache.resolve(code)
            if target is None:
                self.cache.count_unknown()
                await _plain(send, 404, NOT_FOUND_BODY)
                return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _HEADERS:
                headers.setdefault(name, value)
        click_id, ms = new_click_id()
        subs = parse_sub_ids(scope["query_string"])
        peer = scope["client"][0] if scope.get("client") else ""
        https = scope.get("scheme") == "https"
        if self.trusted:
            forwarded = headers.get(b"x-forwarded-for")
            ip = self.trusted.client_ip(peer, forwarded.decode("latin-1") if forwarded else None)
            if self.trusted.contains(peer) and headers.get(b"x-forwarded-proto") == b"https":
                https = True
        else:
            ip = peer
        if self.anonymize_ip:
            ip = anonymize.truncate(ip)
        record = click_record.encode(
            click_id,
            ms,
            target.link_id,
            target.affiliate_id,
            target.offer_id,
            target.currency,
            target.diverted,
            {k: v[1] for k, v in subs.items()},
            ip,
            _header(headers, b"user-agent"),
            _header(headers, b"referer"),
            _header(headers, b"accept-language"),
            scope["method"] == "HEAD",
        )
        queue = self.queue
        try:
            if target.caps:
                shard = queue.shard_for(target.offer_id)
                caps = counter_args(shard.key, target.caps, ms / 1000)
                within = await queue.put(record, shard=shard, admission=caps)
            else:
                within = await queue.put(record)
        except CommitFailed:
            # Neither Redis nor the disk took the click: refuse rather than lose it.
            await _plain(send, 503, b"Service unavailable\n")
            return
        parts = target.parts if within else target.fallback_parts
        if parts is None:
            await _plain(send, 404, UNAVAILABLE_BODY)
            return
        values = {k: v[0] for k, v in subs.items()}
        values.update(target.fixed)
        values["click_id"] = click_id
        location = fill_parts(parts, values)
        cookie = (
            self._cookie_prefix
            + click_id.encode()
            + (target.cookie_tail_https if https else target.cookie_tail)
        )
        await send(
            {
                "type": "http.response.start",
                "status": 302,
                "headers": [
                    (b"location", location.encode("latin-1")),
                    (b"cache-control", b"no-store"),
                    (b"set-cookie", cookie),
                    (b"content-length", b"0"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("utf-8", "replace")[:MAX_VALUE_CHARS] if value else None


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def is_redirect(method: str, path: str) -> bool:
    """Whether a request is a tracking link, to be answered by `Redirector.handle`."""
    return path.startswith(PREFIX) and method in ("GET", "HEAD")
