"""The in-process link cache: code -> everything a redirect needs, no query per click.

Kept fresh by the catalog version key (app.catalog.cache.CatalogCache), which every
catalog change bumps after its commit and before its API call returns. A code that is
missing (or diverted to the fallback) is looked up again only after a read of that key:
one Redis GET shared by every miss that arrives meanwhile, and a load from PostgreSQL of
what changed only when the version moved. So a link redirects in every process from the
moment its create call returns, and a flood of random codes costs no database query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from urllib.parse import quote

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app import macros, signals
from app.caps.clicks import ClickCap, cap_scope
from app.catalog.cache import CatalogCache
from app.catalog.service import CATALOG_VERSION_KEY
from app.catalog.targeting import COUNTRY_REASON, DEVICE_REASON
from app.clicks import enrich
from app.db import Pool
from app.ops.counters import SharedCounters
from app.redirect import metrics
from app.redirect.targeting import Gate, gate_of

logger = logging.getLogger(__name__)

LOAD_LINKS = """
SELECT l.id, l.code, l.affiliate_id, l.offer_id, l.status AS link_status,
       o.url, o.fallback_url, o.status AS offer_status, o.currency,
       o.attribution_window_hours, o.targeting_countries, o.targeting_country_mode,
       o.targeting_devices, a.status AS affiliate_status
FROM links l
JOIN offers o ON o.id = l.offer_id
JOIN affiliates a ON a.id = l.affiliate_id
"""

LOAD_CLICK_CAPS = """
SELECT offer_id, affiliate_id, period, cap_limit FROM offer_caps WHERE metric = 'clicks'
"""

# Links whose row, offer or affiliate changed after $1. Every catalog write sets
# updated_at = now() (its transaction's start), and notices the caches after its commit.
LOAD_CHANGED_LINKS = (
    LOAD_LINKS
    + """WHERE l.id IN (
    SELECT id FROM links WHERE updated_at > $1
    UNION SELECT c.id FROM links c JOIN offers co ON co.id = c.offer_id WHERE co.updated_at > $1
    UNION SELECT c.id FROM links c JOIN affiliates ca ON ca.id = c.affiliate_id
        WHERE ca.updated_at > $1
)
"""
)
LOAD_CHANGED_CLICK_CAPS = LOAD_CLICK_CAPS + "AND offer_id = ANY($1::bigint[])\n"

# How far back a load of changes reaches before the previous load's start: a write whose
# transaction began earlier but committed after that load is still found (the full
# reload every CATALOG_TTL_S covers anything longer).
CHANGES_OVERLAP = timedelta(seconds=30)
# A miss waits this long at most for the catalog version (then the cache answers as it is).
VERSION_READ_TIMEOUT_S = 0.5
MISS_WAIT_S = 5.0

# Characters a URL may carry as they are; anything else in a literal part (non-ASCII
# text in a path, say) is percent-encoded once, when the cache loads.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


@lru_cache(maxsize=65536)
def split_template(template: str) -> tuple[str, ...]:
    """Literal and macro-name parts, alternating (literal first), for a fast fill."""
    parts = macros.MACRO.split(template)
    return tuple(p if i % 2 else quote(p, safe=_URL_SAFE) for i, p in enumerate(parts))


@dataclass(frozen=True, slots=True)
class LinkTarget:
    link_id: int
    affiliate_id: int
    offer_id: int
    # Alternating literal / macro-name parts of the URL the visitor goes to.
    parts: tuple[str, ...] | None
    # Why the visitor goes to the fallback instead of the offer (None: the offer).
    diverted: str | None
    # Where a click over a cap goes.
    fallback_parts: tuple[str, ...] | None
    caps: tuple[ClickCap, ...]
    currency: str
    # What follows "name=<click id>" in the Set-Cookie header, over HTTP and HTTPS.
    cookie_tail: bytes
    cookie_tail_https: bytes
    fixed: dict[str, str]
    # The offer's targeting (None: every click fits), and by the reason a click misses
    # it, this link's target diverted to the fallback for that reason (made at load).
    gate: Gate | None = None
    off_target: dict[str, LinkTarget] = field(default_factory=dict)


@lru_cache(maxsize=1024)
def _cookie_tails(max_age: int) -> tuple[bytes, bytes]:
    return (
        f"; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax".encode(),
        # A cross-site pixel only gets the cookie back with SameSite=None, which needs Secure.
        f"; Max-Age={max_age}; Path=/; HttpOnly; SameSite=None; Secure".encode(),
    )


def _target(row: asyncpg.Record, caps: tuple[ClickCap, ...]) -> LinkTarget:
    diverted = None
    if row["link_status"] == "archived" or row["offer_status"] == "archived":
        diverted = "archived"
    elif row["offer_status"] == "paused":
        diverted = "paused"
    elif row["affiliate_status"] != "active":
        diverted = "affiliate_inactive"
    url = row["url"] if diverted is None else row["fallback_url"]
    cookie_tail, cookie_tail_https = _cookie_tails(int(row["attribution_window_hours"]) * 3600)
    target = LinkTarget(
        link_id=int(row["id"]),
        affiliate_id=int(row["affiliate_id"]),
        offer_id=int(row["offer_id"]),
        parts=split_template(str(url)) if url else None,
        diverted=diverted,
        fallback_parts=split_template(str(row["fallback_url"])) if row["fallback_url"] else None,
        caps=caps if diverted is None else (),
        currency=str(row["currency"]),
        cookie_tail=cookie_tail,
        cookie_tail_https=cookie_tail_https,
        fixed={"affiliate_id": str(row["affiliate_id"]), "offer_id": str(row["offer_id"])},
    )
    gate = gate_of(row) if diverted is None else None
    if gate is None:
        return target
    # Outside the targeting a click goes where a paused offer's does, and counts against
    # no cap.
    return replace(
        target,
        gate=gate,
        off_target={
            reason: replace(target, parts=target.fallback_parts, diverted=reason, caps=())
            for reason in (COUNTRY_REASON, DEVICE_REASON)
        },
    )


class LinkCache(CatalogCache):
    """Tracking-link code -> LinkTarget."""

    def __init__(self, pool: Pool, redis: Redis, *, poll_s: float, ttl_s: float) -> None:
        super().__init__(pool, redis, poll_s=poll_s, ttl_s=ttl_s)
        self._links: dict[str, LinkTarget] = {}
        # PostgreSQL's clock when the rows in the cache were read: loads of changes start there.
        self._read_at: datetime | None = None
        self._failed_at = -float("inf")
        # One load at a time, full or of changes, so none swaps in rows older than another's.
        self._lock = asyncio.Lock()
        # The version check not started yet (a miss joins it) and the one running.
        self._queued: asyncio.Task[None] | None = None
        self._running: asyncio.Task[None] | None = None
        self.counters = SharedCounters(redis, metrics.COUNTERS_KEY)
        self.db_loads = 0

    def get(self, code: str) -> LinkTarget | None:
        return self._links.get(code)

    async def resolve(self, code: str) -> LinkTarget | None:
        """The target of a code this cache lacks or diverts, as of the current catalog.

        Waits for a check of the catalog version that starts after this call (one that
        already read it may have read it before the change the caller follows), shared
        with every other call made meanwhile.
        """
        await self.check_version()
        return self._links.get(code)

    def count_unknown(self) -> None:
        self.counters.inc(metrics.UNKNOWN_CODE)

    async def check_version(self) -> None:
        task = self._queued
        if task is None:
            task = self._queued = asyncio.create_task(self._check_after(self._running))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(MISS_WAIT_S):
                await asyncio.shield(task)

    async def _check_after(self, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        # From here on this check may read the version: later callers need the next one.
        self._queued = None
        self._running = asyncio.current_task()
        try:
            await self._load_changes_if_newer()
        except Exception:  # the cache keeps serving what it has; the next check retries
            self._failed_at = time.monotonic()
            logger.exception("link cache: loading catalog changes failed")

    async def _load_changes_if_newer(self) -> None:
        async with self._lock:
            try:
                async with asyncio.timeout(VERSION_READ_TIMEOUT_S):
                    version = await self._redis.get(CATALOG_VERSION_KEY)
            except (RedisError, OSError, TimeoutError) as exc:
                logger.debug("link cache: catalog version unreadable: %s", exc)
                return
            if version == self._version or self._read_at is None:
                return
            # After a failure (PostgreSQL down), misses do not retry more than once per poll.
            if time.monotonic() - self._failed_at < self._poll_s:
                return
            async with self._pool.acquire() as conn:
                read_at = await conn.fetchval("SELECT now()")
                rows = await conn.fetch(LOAD_CHANGED_LINKS, self._read_at - CHANGES_OVERLAP)
                offers = list({r["offer_id"] for r in rows})
                caps = _caps_by_scope(await conn.fetch(LOAD_CHANGED_CLICK_CAPS, offers))
            if rows:
                self._links.update(await asyncio.to_thread(_targets, rows, caps))
            self._version, self._read_at = version, read_at
            self.db_loads += 1
            metrics.cache_loads.labels(kind="changes").inc()

    async def load(self) -> None:
        async with self._lock:
            await super().load()

    async def refresh_if_changed(self) -> bool:
        """The watcher's tick: a full reload after the TTL, otherwise the version check."""
        if time.monotonic() - self._loaded_at > self._ttl_s:
            await self.load()
            return True
        before = self._version
        await self.check_version()
        return self._version != before

    async def start(self) -> None:
        await super().start()
        self.counters.start()

    async def stop(self) -> None:
        await super().stop()
        for task in (self._queued, self._running):
            await signals.cancel(task)
        await self.counters.stop()

    async def _reload(self) -> None:
        read_at = await self._pool.fetchval("SELECT now()")
        rows = await self._pool.fetch(LOAD_LINKS)
        caps = _caps_by_scope(await self._pool.fetch(LOAD_CLICK_CAPS))
        # Built in a thread: with 100k links this is ~0.3 s of CPU that would otherwise
        # stall every redirect of this process at each full reload.
        self._links = await asyncio.to_thread(_targets, rows, caps)
        self._read_at = read_at
        self.db_loads += 1
        metrics.cache_loads.labels(kind="full").inc()


def _caps_by_scope(rows: list[asyncpg.Record]) -> dict[tuple[int, int | None], list[ClickCap]]:
    caps: dict[tuple[int, int | None], list[ClickCap]] = {}
    for cap in rows:
        caps.setdefault((cap["offer_id"], cap["affiliate_id"]), []).append(
            ClickCap(
                scope=cap_scope(cap["offer_id"], cap["affiliate_id"]),
                period=cap["period"],
                limit=cap["cap_limit"],
            )
        )
    return caps


def _targets(
    rows: list[asyncpg.Record], caps: dict[tuple[int, int | None], list[ClickCap]]
) -> dict[str, LinkTarget]:
    if any(r["targeting_devices"] or r["targeting_countries"] for r in rows):
        # A targeted click parses its user agent and looks up its country in the web
        # process: load the parsers here, in the loader's thread, not on a click.
        enrich.warm_up()
    return {
        r["code"]: _target(
            r,
            tuple(
                caps.get((r["offer_id"], None), [])
                + caps.get((r["offer_id"], r["affiliate_id"]), [])
            ),
        )
        for r in rows
    }
