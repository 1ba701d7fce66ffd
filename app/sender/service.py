"""`tracker sender`: deliver the outbox rows the attribution writes.

Rows are claimed with FOR UPDATE SKIP LOCKED and leased (their next attempt pushed out)
so several senders share the work and a killed sender's rows come back after the lease.
Each try is one delivery_attempts row. Only a 2xx counts; redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson

from app import db
from app.db import Pool
from app.sender import ssrf
from app.settings import Settings
from app.signals import stop_on_signals

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
SNIPPET_BYTES = 1024
IDLE_POLL_S = 1.0

CLAIM = """
UPDATE deliveries d SET next_attempt_at = now() + $2::interval
FROM (
    SELECT id FROM deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT $1
    FOR UPDATE SKIP LOCKED
) due, affiliates a
WHERE d.id = due.id AND a.id = d.affiliate_id
RETURNING d.id, d.url, d.method, d.body, d.attempts, a.signing_secret
"""
RECORD_ATTEMPT = """
INSERT INTO delivery_attempts (delivery_id, status_code, error, latency_ms, response_snippet)
VALUES ($1, $2, $3, $4, $5)
"""
MARK_DELIVERED = """
UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
    last_error = NULL
WHERE id = $1
"""
MARK_RETRY = """
UPDATE deliveries SET status = $2, attempts = attempts + 1, next_attempt_at = $3,
    last_error = $4
WHERE id = $1
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int
    snippet: str | None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + payload>`, as the receiver checks."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    return None


def next_attempt(
    attempts_done: int, schedule: list[int], retry_after_s: float | None
) -> datetime | None:
    """When to try again after `attempts_done` failures; None when the schedule is spent."""
    if attempts_done > len(schedule):
        return None
    base = schedule[attempts_done - 1]
    delay = base * random.uniform(0.9, 1.1)  # jitter spreads a burst of retries
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, float(schedule[-1])))
    return datetime.now(UTC) + timedelta(seconds=delay)


class Sender:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._allowed = ssrf.parse_networks(settings.sender_allowed_networks)
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.sender_read_timeout_s, connect=settings.sender_connect_timeout_s
            ),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.sender_concurrency),
            headers={"User-Agent": "tracker-postback/1"},
        )
        self.sent = 0
        self.failed = 0

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, row: dict[str, Any]) -> Outcome:
        started = time.perf_counter()
        url: str = row["url"]
        body = orjson.dumps(row["body"]) if row["method"] == "POST" else b""
        try:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ssrf.RefusedAddress("not an http(s) URL")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = await ssrf.resolve_public(parts.hostname, port, self._allowed)
            host = f"[{address}]" if ":" in address else address
            target = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
            headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
            if body:
                headers["Content-Type"] = "application/json"
            if row["signing_secret"]:
                headers["X-Tracker-Signature"] = signature(
                    row["signing_secret"], int(time.time()), body or url.encode()
                )
            request = self._client.build_request(
                row["method"],
                target,
                content=body or None,
                headers=headers,
                extensions={"sni_hostname": parts.hostname},
            )
            response = await self._client.send(request, stream=True)
            try:
                snippet = b""
                async for chunk in response.aiter_raw():
                    snippet += chunk
                    if len(snippet) >= SNIPPET_BYTES:
                        break  # a huge body is not read to its end
            finally:
                await response.aclose()
            return Outcome(
                status_code=response.status_code,
                error=None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}",
                latency_ms=int((time.perf_counter() - started) * 1000),
                snippet=snippet[:SNIPPET_BYTES].decode("utf-8", "replace"),
                retry_after_s=_retry_after(response.headers.get("retry-after")),
            )
        except (httpx.HTTPError, ssrf.RefusedAddress, OSError, ValueError) as exc:
            return Outcome(
                status_code=None,
                error=f"{type(exc).__name__}: {exc}"[:500],
                latency_ms=int((time.perf_counter() - started) * 1000),
                snippet=None,
            )

    async def _deliver(self, row: dict[str, Any]) -> None:
        outcome = await self.send(row)
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                RECORD_ATTEMPT,
                row["id"],
                outcome.status_code,
                outcome.error,
                outcome.latency_ms,
                outcome.snippet,
            )
            if outcome.ok:
                await conn.execute(MARK_DELIVERED, row["id"])
                self.sent += 1
                return
            when = next_attempt(
                row["attempts"] + 1, self._settings.sender_retry_schedule_s, outcome.retry_after_s
            )
            status = "pending" if when is not None else "failed"
            await conn.execute(
                MARK_RETRY, row["id"], status, when or datetime.now(UTC), outcome.error
            )
            self.failed += status == "failed"

    async def run_once(self) -> int:
        """Claim due deliveries and send them concurrently; the count claimed."""
        rows = await self._pool.fetch(CLAIM, self._settings.sender_concurrency, LEASE)
        await asyncio.gather(*(self._deliver(dict(r)) for r in rows))
        return len(rows)

    async def run(self, *, stop: asyncio.Event, burst: bool = False) -> None:
        while not stop.is_set():
            try:
                claimed = await self.run_once()
            except (OSError, asyncpg.PostgresError) as exc:
                logger.warning("sender poll failed: %s", exc)
                claimed = 0
            if claimed:
                continue
            if burst:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), IDLE_POLL_S)


async def run(
    settings: Settings,
    *,
    burst: bool = False,
    stop: asyncio.Event | None = None,
    handle_signals: bool = False,
) -> None:
    database_url, _ = settings.require_urls()
    stop = stop or asyncio.Event()
    if handle_signals:
        stop_on_signals(stop)
    pool = await db.create_pool(database_url, min_size=1, max_size=4)
    sender = Sender(pool, settings)
    try:
        logger.info("sender started")
        await sender.run(stop=stop, burst=burst)
    finally:
        await sender.aclose()
        await pool.close()
