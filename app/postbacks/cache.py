"""The in-process advertiser cache: token -> who is posting, no query per postback.

Refreshed like the link cache (app.redirect.cache): a poll of the catalog version key a
few times a second and a full reload after a TTL. A postback is judged against the cache
as it is, and its record carries the catalog version the cache held (`version`): the
stream's admission script refuses the record when that version is no longer current
(app.postbacks.freshness), and a refusal to the sender is first checked against a version
read after the postback arrived (`moved_since`). Either way the web process then reloads
(`current`, one GET shared by the postbacks waiting for it) and judges again, so a token
rotated, a signing secret set or an IP allowlist narrowed through the API (which bumps the
version before it answers) is in force for the very next postback in every web process,
at no Redis round trip for a postback the cache judged right. When Redis does not answer
within its budget the cache serves what it has.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import time
from dataclasses import dataclass

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.catalog.cache import CatalogCache
from app.catalog.service import CATALOG_VERSION_KEY
from app.db import Pool
from app.postbacks import queries

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_BUDGET_S = 0.05


@dataclass(frozen=True, slots=True)
class Advertiser:
    id: int
    token: bytes
    networks: tuple[IPNetwork, ...]
    signing_secret: bytes | None


def _digest(token: bytes) -> bytes:
    return hashlib.sha256(token).digest()


def _advertiser(row: asyncpg.Record) -> Advertiser:
    secret = row["signing_secret"]
    return Advertiser(
        id=int(row["id"]),
        token=str(row["postback_token"]).encode(),
        networks=tuple(row["ip_allowlist"] or ()),
        signing_secret=secret.encode() if secret else None,
    )


class AdvertiserCache(CatalogCache):
    """Postback token -> active advertiser."""

    def __init__(
        self,
        pool: Pool,
        redis: Redis,
        *,
        poll_s: float,
        ttl_s: float,
        budget_s: float = DEFAULT_BUDGET_S,
    ) -> None:
        super().__init__(pool, redis, poll_s=poll_s, ttl_s=ttl_s)
        # Keyed by the token's SHA-256: the lookup's timing tells nothing about the token.
        self._by_digest: dict[bytes, Advertiser] = {}
        self._budget_s = budget_s
        # The version check in flight, and the one queued behind it for requests that
        # arrived after it started (they may not trust a read sent before they came).
        self._running: asyncio.Future[None] | None = None
        self._queued: asyncio.Future[None] | None = None
        # Reloads one at a time, so rows read earlier never replace rows read later.
        self._lock = asyncio.Lock()
        self._checks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def load(self) -> None:
        async with self._lock:
            await super().load()

    async def stop(self) -> None:
        self._stopping = True
        await super().stop()
        for task in list(self._checks):
            task.cancel()
        await asyncio.gather(*self._checks, return_exceptions=True)

    def _find(self, token: bytes) -> Advertiser | None:
        found = self._by_digest.get(_digest(token))
        # The digest matched; compare the token itself in constant time anyway.
        if found is not None and hmac.compare_digest(found.token, token):
            return found
        return None

    @property
    def version(self) -> bytes:
        """The catalog version the cache's rows are at least as new as (b"": none read)."""
        version = self._version
        if version is None:
            return b""
        return version if isinstance(version, bytes) else version.encode()

    def lookup(self, token: str) -> Advertiser | None:
        """The active advertiser whose postback token this is, or None, as the cache
        holds it (at `version`, read in the same step)."""
        return self._find(token.encode())

    async def moved_since(self, version: bytes) -> bool:
        """Whether a catalog version read after this call began differs from `version`
        (the cache is then reloaded); False when Redis does not answer in time."""
        await self.current()
        return self.version != version

    async def current(self) -> None:
        """Return once the cache holds a catalog version read after this call began."""
        if self._running is None:
            self._running = asyncio.get_running_loop().create_future()
            waiter = self._running
            self._spawn(waiter)
        else:
            if self._queued is None:
                self._queued = asyncio.get_running_loop().create_future()
            waiter = self._queued
        await asyncio.shield(waiter)

    async def _check(self, waiter: asyncio.Future[None]) -> None:
        try:
            async with asyncio.timeout(self._budget_s):
                version = await self._redis.get(CATALOG_VERSION_KEY)
            async with self._lock:
                if version != self._version or time.monotonic() - self._loaded_at > self._ttl_s:
                    await self._reload()
                    self._version, self._loaded_at = version, time.monotonic()
        except (RedisError, OSError, TimeoutError, asyncpg.PostgresError) as exc:
            # Redis slow or down, or PostgreSQL: the postback is judged by what we have.
            logger.debug("advertiser cache check skipped: %s", exc)
        except Exception:
            logger.exception("advertiser cache check failed")
        finally:
            waiter.set_result(None)
            self._running, queued, self._queued = self._queued, self._queued, None
            if queued is not None:
                if self._stopping:
                    self._running = None
                    queued.set_result(None)
                else:
                    self._spawn(queued)

    def _spawn(self, waiter: asyncio.Future[None]) -> None:
        task = asyncio.create_task(self._check(waiter), name="advertiser-cache-check")
        self._checks.add(task)
        task.add_done_callback(self._checks.discard)

    async def _reload(self) -> None:
        rows = await self._pool.fetch(queries.LOAD_ADVERTISERS)
        self._by_digest = {
            _digest(str(r["postback_token"]).encode()): _advertiser(r)
            for r in rows
            if r["status"] == "active"
        }
