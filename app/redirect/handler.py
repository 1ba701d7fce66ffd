"""GET /c/{code}: the hot path, as plain ASGI in front of FastAPI.

FastAPI's routing and validation cost about 4x on a request this small, so tracking
links never reach it. Per click: a dict lookup, a click ID, the query parsed for the
few names we use, one record queued for the group-committed XADD, and the 302 once
Redis (or the local spool, if Redis is down or slow) holds the click.
"""

from __future__ import annotations

import asyncio
import logging
import re
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
from app.streams.producer import Shard

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/c/"
MAX_VALUE_CHARS = 1024
SUB_PARAMS = (b"sub1", b"sub2", b"sub3", b"sub4", b"sub5", b"source", b"aff_click_id")
_WANTED = {name: name.decode() for name in SUB_PARAMS}
HEADERS = (b"user-agent", b"referer", b"accept-language", b"x-forwarded-for", b"x-forwarded-proto")
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
        key = _WANTED.get(name)
        if key is None or key in found:
            continue
        # Most values need no unquoting: skip unquote_to_bytes's pass for them. (An int
        # is found in bytes at a fraction of the cost of a one-byte bytes: "%" and "+".)
        raw = value
        if 37 in value or 43 in value:
            raw = unquote_to_bytes(value.replace(b"+", b" "))
        try:
            passthrough = raw.decode()[:MAX_VALUE_CHARS]
            stored = passthrough.replace("\x00", "\ufffd") if "\x00" in passthrough else passthrough
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
    out = [parts[0]]
    append = out.append
    get = values.get
    # Literal and macro-name parts alternate, literal first and last (re.split's).
    for i in range(1, len(parts), 2):
        value = get(parts[i])
        if value:
            # Most values (the click ID, IDs, plain sub-IDs) need no escape: skip quote's
            # pure-Python pass for them (and the pattern's, for letters and digits).
            if not (value.isascii() and value.isalnum()) and not _UNRESERVED(value):
                value = quote(value, safe="", errors="surrogateescape")
            append(value)
        append(parts[i + 1])
    return "".join(out)


# What quote(safe="") leaves as it is: RFC 3986's unreserved characters.
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


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
UNAVAILABLE = _plain(404, UNAVAILABLE_BODY)
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

    def location(self, within: bool) -> bytes | None:
        """The Location of the 302 (`within` the caps: the offer's, else the fallback's);
        None when the offer has no fallback."""
        parts = self.target.parts if within else self.target.fallback_parts
        if parts is None:
            return None
        return fill_parts(parts, self._location).encode("latin-1")

    def reply(self, within: bool) -> Reply:
        """The 302 to the offer (`within` its caps) or to the fallback, or a 404 when the
        offer has none."""
        location = self.location(within)
        if location is None:
            return UNAVAILABLE
        return Reply(
            302,
            [
                (b"location", location),
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
        # link ID -> (UTC day, its target, its shard, the cap script's arguments)
        self._admission: dict[int, tuple[int, LinkTarget, Shard, tuple[bytes, ...]]] = {}

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

    def start_parsed(
        self,
        code: str,
        query: bytes,
        headers: dict[bytes, bytes],
        peer: str,
        https: bool,
        head: bool,
        then: Callable[[bool | Exception], object],
    ) -> Click | None:
        """`start` for a request the edge's own protocol parsed (app.edge.front): the
        path's code, the raw query, the first of each of HEADERS by lower-case name. No
        future: `then` gets the future's result (or exception) once the click's batch is
        answered, with the batch's other clicks in one pass (GroupCommit.submit_then)."""
        target = self.cache.get(code)
        if target is None or target.diverted is not None:
            return None
        click = self._make(target, query, headers, peer, https, head)
        shard, admission = self._admission_of(click)
        self.queue.submit_then(click.record, then, shard=shard, admission=admission)
        return click

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
        shard, admission = self._admission_of(click)
        return self.queue.submit(click.record, shard=shard, admission=admission)

    def _admission_of(self, click: Click) -> tuple[Shard | None, tuple[bytes, ...] | None]:
        """The click's shard and cap-script arguments (None, None: no caps, any shard)."""
        target = click.target
        if not target.caps:
            return None, None
        # A link's shard and cap arguments change once a UTC day: kept per link.
        day = click.ms // 86_400_000
        kept = self._admission.get(target.link_id)
        if kept is None or kept[0] != day or kept[1] is not target:
            shard = self.queue.shard_for(target.offer_id)
            kept = (day, target, shard, counter_args(shard.key, target.caps, click.ms / 1000))
            self._admission[target.link_id] = kept
        return kept[2], kept[3]

    def _click(self, scope: Scope, target: LinkTarget) -> Click:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            if name in HEADERS:
                headers.setdefault(name, value)
        client = scope.get("client")
        return self._make(
            target,
            scope["query_string"],
            headers,
            client[0] if client else "",
            scope.get("scheme") == "https",
            scope["method"] == "HEAD",
        )

    def _make(
        self,
        target: LinkTarget,
        query: bytes,
        headers: dict[bytes, bytes],
        peer: str,
        https: bool,
        head: bool,
    ) -> Click:
        click_id, ms = new_click_id()
        subs = parse_sub_ids(query)
        if self.trusted:
            forwarded = headers.get(b"x-forwarded-for")
            ip = self.trusted.client_ip(peer, forwarded.decode("latin-1") if forwarded else None)
            if self.trusted.contains(peer) and headers.get(b"x-forwarded-proto") == b"https":
                https = True
        else:
            ip = peer
        if self.anonymize_ip:
            ip = anonymize.truncate(ip)
        user_agent = _header(headers, b"user-agent")
        if target.gate is not None:
            # Outside the offer's targeting: the click is stored diverted, and goes to
            # the fallback (the link's target for that reason, made when it loaded).
            reason = target.gate.refusal(ip, user_agent, head)
            if reason is not None:
                target = target.off_target[reason]
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
            user_agent,
            _header(headers, b"referer"),
            _header(headers, b"accept-language"),
            head,
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
