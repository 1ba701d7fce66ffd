"""The in-process advertiser cache: token -> who is posting, no query per postback.

Refreshed like the link cache (app.redirect.cache): a poll of the catalog version key a
few times a second, a full reload after a TTL, and an early check when a token is not
found (a just-created or just-rotated advertiser), at most a few times a second.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from app.db import Pool
from app.postbacks import queries

logger = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MISS_RECHECK_S = 0.25


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

    def __init__(self, pool: Pool, redis: Redis, *, poll_s: float, ttl_s: float) -> None:
        super().__init__(pool, redis, poll_s=poll_s, ttl_s=ttl_s)
        # Keyed by the token's SHA-256: the lookup's timing tells nothing about the token.
        self._by_digest: dict[bytes, Advertiser] = {}
        self._checked_at = 0.0
        self._recheck: asyncio.Future[None] | None = None

    def _find(self, token: bytes) -> Advertiser | None:
        found = self._by_digest.get(_digest(token))
        # The digest matched; compare the token itself in constant time anyway.
        if found is not None and hmac.compare_digest(found.token, token):
            return found
        return None

    async def authenticate(self, token: str) -> Advertiser | None:
        """The active advertiser whose postback token this is, or None."""
        raw = token.encode()
        found = self._find(raw)
        if found is not None:
            return found
        # Concurrent misses share one check, and every one of them waits for its result:
        # the first postbacks of a just-created advertiser all find it.
        if self._recheck is None or (
            self._recheck.done() and time.monotonic() - self._checked_at > MISS_RECHECK_S
        ):
            self._checked_at = time.monotonic()
            self._recheck = asyncio.ensure_future(self._quiet_refresh())
        await asyncio.shield(self._recheck)
        return self._find(raw)

    async def _quiet_refresh(self) -> None:
        with contextlib.suppress(RedisError, OSError, asyncpg.PostgresError):
            await self.refresh_if_changed()

    async def _reload(self) -> None:
        rows = await self._pool.fetch(queries.LOAD_ADVERTISERS)
        self._by_digest = {
            _digest(str(r["postback_token"]).encode()): _advertiser(r)
            for r in rows
            if r["status"] == "active"
        }
