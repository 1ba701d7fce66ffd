"""GET /c/{code}: the hot path, as plain ASGI in front of FastAPI.

FastAPI's routing and validation cost about 4x on a request this small, so tracking
links never reach it. Per click: a dict lookup, a click ID, the query parsed for the
few names we use, one record queued for the group-committed XADD, and the 302 once
Redis (or the local spool, if Redis is down or slow) holds the click.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_to_bytes

from app.caps.clicks import counter_args
from app.clickid import new_click_id
from app.clicks import record as click_record
from app.privacy import anonymize
from app.proxies import TrustedProxies
from app.redirect.cache import LinkCache, LinkTarget
from app.streams.durable_queue import CommitFailed, DurableQueue, Unconfirmed

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


class Reply(NamedTuple):
    """A response of the redirect: status, headers (Content-Length included), body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _plain(status: int, body: bytes) -> Reply:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", b"%d" % len(body)),
        (b"cache-control", b"no-store"),
    ]
    return Reply(status, headers, body)


_NOT_FOUND = _plain(404, NOT_FOUND_BODY)
_UNAVAILABLE = _plain(404, UNAVAILABLE_BODY)
_SERVICE_UNAVAILABLE = _plain(503, b"Service unavailable\n")


class Click:
    """A click queued for the group commit: its record, and what its reply needs."""

    __slots__ = ("_location", "cookie", "ms", "record", "target")

    def __init__(
        self,
        target: LinkTarget,
        ms: int,
        record: bytes,
        location: dict[str, str],
        cookie: bytes,
    ) -> None:
        self.target = target
        self.ms = ms
        self.record = record
        self._location = location
        self.cookie = cookie

    def reply(self, within: bool) -> Reply:
        """The 302 to the offer (`within` its caps) or to the fallback, or a 404 when the
        offer has none."""
        parts = self.target.parts if within else self.target.fallback_parts
        if parts is None:
            return _UNAVAILABLE
        location = fill_parts(parts, self._location)
        return Reply(
            302,
            [
                (b"location", location.encode("latin-1")),
                (b"cache-control", b"no-store"),
                (b"set-cookie", self.cookie),
                (b"content-length", b"0"),
            ],
            b"",
        )


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

    def start(self, scope: Scope) -> tuple[Click, asyncio.Future[bool]] | None:
        """The synchronous part of a click on a link the cache holds as plain (not
        diverted): the click queued for the group commit, with the future that says
        whether Redis took it within the link's caps. None for any other link: `handle`
        looks it up (it may be new or re-activated since the cache loaded)."""
        target = self.cache.get(scope["path"][len(PREFIX) :])
        if target is None or target.diverted is not None:
            return None
        click = self._click(scope, target)
        return click, self._submit(click)

    async def handle(self, scope: Scope, send: Send) -> None:
        await _send(send, await self.answer(scope))

    async def answer(self, scope: Scope) -> Reply:
        """The reply to a click, once Redis (or the spool) holds it."""
        started = self.start(scope)
        if started is None:
            target = await self.cache.resolve(scope["path"][len(PREFIX) :])
            if target is None:
                self.cache.count_unknown()
                return _NOT_FOUND
            click = self._click(scope, target)
            future = self._submit(click)
        else:
            click, future = started
        try:
            within = await future
        except (CommitFailed, Unconfirmed) as failure:
            return await self.spooled(click, failure)
        return click.reply(within)

    async def spooled(self, click: Click, failure: CommitFailed | Unconfirmed) -> Reply:
        """The reply to a click whose batch Redis did not take (or its replicas did not
        confirm): the spool holds it, or neither did (then refused rather than lost)."""
        try:
            within = await self.queue.keep(click.record, failure)
        except CommitFailed:
            return _SERVICE_UNAVAILABLE
        return click.reply(within)

    def _submit(self, click: Click) -> asyncio.Future[bool]:
        target, queue = click.target, self.queue
        if target.caps:
            shard = queue.shard_for(target.offer_id)
            caps = counter_args(shard.key, target.caps, click.ms / 1000)
            return queue.submit(click.record, shard=shard, admission=caps)
        return queue.submit(click.record)

    def _click(self, scope: Scope, target: LinkTarget) -> Click:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in _HEADERS:
                headers.setdefault(name, value)
        click_id, ms = new_click_id()
        subs = parse_sub_ids(scope["query_string"])
        client = scope.get("client")
        peer = client[0] if client else ""
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
        values = {k: v[0] for k, v in subs.items()}
        values.update(target.fixed)
        values["click_id"] = click_id
        cookie = (
            self._cookie_prefix
            + click_id.encode()
            + (target.cookie_tail_https if https else target.cookie_tail)
        )
        return Click(target, ms, record, values, cookie)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("utf-8", "replace")[:MAX_VALUE_CHARS] if value else None


async def _send(send: Send, reply: Reply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": reply.headers,
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


def is_redirect(method: str, path: str) -> bool:
    """Whether a request is a tracking link, to be answered by `Redirector.handle`."""
    return path.startswith(PREFIX) and method in ("GET", "HEAD")
