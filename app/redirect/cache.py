"""The in-process link cache: code -> everything a redirect needs, no query per click.

Kept fresh by the catalog version key (app.catalog.cache.CatalogCache).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import asyncpg
from redis.asyncio import Redis

from app import macros
from app.caps.clicks import ClickCap, cap_scope
from app.catalog.cache import CatalogCache
from app.db import Pool

logger = logging.getLogger(__name__)

LOAD_LINKS = """
SELECT l.id, l.code, l.affiliate_id, l.offer_id, l.status AS link_status,
       o.url, o.fallback_url, o.status AS offer_status, o.currency,
       o.attribution_window_hours, a.status AS affiliate_status
FROM links l
JOIN offers o ON o.id = l.offer_id
JOIN affiliates a ON a.id = l.affiliate_id
"""

LOAD_CLICK_CAPS = """
SELECT offer_id, affiliate_id, period, cap_limit FROM offer_caps WHERE metric = 'clicks'
"""

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
    return LinkTarget(
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


class LinkCache(CatalogCache):
    """Tracking-link code -> LinkTarget."""

    def __init__(self, pool: Pool, redis: Redis, *, poll_s: float, ttl_s: float) -> None:
        super().__init__(pool, redis, poll_s=poll_s, ttl_s=ttl_s)
        self._links: dict[str, LinkTarget] = {}

    def get(self, code: str) -> LinkTarget | None:
        return self._links.get(code)

    async def _reload(self) -> None:
        rows = await self._pool.fetch(LOAD_LINKS)
        caps: dict[tuple[int, int | None], list[ClickCap]] = {}
        for cap in await self._pool.fetch(LOAD_CLICK_CAPS):
            caps.setdefault((cap["offer_id"], cap["affiliate_id"]), []).append(
                ClickCap(
                    scope=cap_scope(cap["offer_id"], cap["affiliate_id"]),
                    period=cap["period"],
                    limit=cap["cap_limit"],
                )
            )
        # Built in a thread: with 100k links this is ~0.3 s of CPU that would otherwise
        # stall every redirect of this process at each catalog change.
        self._links = await asyncio.to_thread(_targets, rows, caps)


def _targets(
    rows: list[asyncpg.Record], caps: dict[tuple[int, int | None], list[ClickCap]]
) -> dict[str, LinkTarget]:
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
