"""`tracker sender`: deliver the outbox rows the attribution writes.

Rows are claimed with FOR UPDATE SKIP LOCKED and leased (their next attempt pushed out)
so several senders share the work and a killed sender's rows come back after the lease.
Each try is one delivery_attempts row. Only a 2xx counts; redirects are not followed.
Delivery is at-least-once: a row sent but not yet marked delivered when the sender dies
is sent again, so receivers dedupe on the X-Tracker-Delivery header.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import re
import time
import uuid
from collections import OrderedDict
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeAlias
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
import httpx
import orjson

from app import db, macros, outage
from app.clickid import format_click_id
from app.db import Executor, Pool
from app.money import format_money
from app.sender import metrics, queries, ssrf
from app.settings import Settings
from app.signals import stop_on_signals

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
SNIPPET_BYTES = 1024
IDLE_POLL_S = 1.0
SIGNATURE_HEADER = "X-Tracker-Signature"
DELIVERY_HEADER = "X-Tracker-Delivery"
# A receiver whose tries take this long shares a quarter of the slots with the other slow
# ones.
SLOW_HOST_S = 1.0
MAX_CLIENTS = 256  # receivers whose connections are kept open
MAX_KNOWN_RECEIVERS = 10_000
# A claimed deliveries row (or a dict with its fields, in tests and the benchmark).
Row: TypeAlias = "Mapping[str, Any] | asyncpg.Record"
_AUTHORITY = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)")


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int
    snippet: str | None
    retry_after_s: float | None = None
    # Trying again cannot help (the SSRF guard refused the target): fail at once.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signature(secret: str, timestamp: int, payload: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + payload>`, as the receiver checks.

    The payload is the request body of a POST, and the request target (path and query,
    exactly as on the request line) of a GET.
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def next_attempt(
    attempts_done: int, schedule: list[int], retry_after_s: float | None
) -> datetime | None:
    """When to try again after `attempts_done` failures; None when the schedule is spent."""
    if attempts_done > len(schedule):
        return None
    base = schedule[attempts_done - 1]
    delay = base * random.uniform(0.9, 1.1)  # jitter spreads a burst of retries
    if retry_after_s is not None:
        # Capped, so a receiver cannot park a delivery for ever.
        delay = max(delay, min(retry_after_s, float(schedule[-1])))
    return datetime.now(UTC) + timedelta(seconds=delay)


def host_key(url: str) -> str:
    """The receiver of a URL, as queries.HOST_KEY_SQL computes it."""
    match = _AUTHORITY.match(url)
    return match.group(1).lower() if match else ""


def _text(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; a receiver's garbage must not fail the bookkeeping.
    return value.replace("\x00", "\ufffd") if value is not None else None


@dataclass(slots=True)
class Receivers:
    """Tries in flight and recent latency per receiver.

    No receiver holds more than half the slots (a quarter until it has answered once),
    and the slow ones together hold at most a quarter, so a hanging affiliate server
    delays its own deliveries only.
    """

    concurrency: int
    in_flight: dict[str, list[float]] = field(default_factory=dict)
    # Moving average of a try, seconds; the least recently used are forgotten.
    latency: OrderedDict[str, float] = field(default_factory=OrderedDict)
    slow: set[str] = field(default_factory=set)

    @property
    def share(self) -> int:
        return max(1, self.concurrency // 2)

    @property
    def slow_share(self) -> int:
        return max(1, self.concurrency // 4)

    def start(self, key: str) -> float:
        started = time.monotonic()
        self.in_flight.setdefault(key, []).append(started)
        return started

    def finish(self, key: str, started: float) -> None:
        elapsed = time.monotonic() - started
        starts = self.in_flight.get(key, [])
        with contextlib.suppress(ValueError):
            starts.remove(started)
        if not starts:
            self.in_flight.pop(key, None)
        previous = self.latency.pop(key, None)
        average = elapsed if previous is None else 0.7 * previous + 0.3 * elapsed
        self.latency[key] = average
        if average >= SLOW_HOST_S:
            self.slow.add(key)
        else:
            self.slow.discard(key)
        if len(self.latency) > MAX_KNOWN_RECEIVERS:
            oldest = next(iter(self.latency))
            if oldest not in self.in_flight:
                del self.latency[oldest]
                self.slow.discard(oldest)

    def _cap(self, key: str) -> int:
        return self.share if key in self.latency else self.slow_share

    def _slow_now(self) -> set[str]:
        # A try running this long marks its receiver slow before it ends.
        since = time.monotonic() - SLOW_HOST_S
        hanging = {key for key, starts in self.in_flight.items() if starts[0] <= since}
        return self.slow | hanging

    def busy(self) -> list[str]:
        """Receivers to leave out of the next claim."""
        busy = {key for key, starts in self.in_flight.items() if len(starts) >= self._cap(key)}
        slow = self._slow_now()
        if sum(len(self.in_flight.get(key, ())) for key in slow) >= self.slow_share:
            busy |= slow
        return sorted(busy)

    def admit(self, keys: list[str]) -> list[bool]:
        """Which of these claimed rows may start now, their receivers' shares considered."""
        slow = self._slow_now()
        counts = {key: len(starts) for key, starts in self.in_flight.items()}
        slow_total = sum(counts.get(key, 0) for key in slow)
        verdicts = []
        for key in keys:
            ok = counts.get(key, 0) < self._cap(key) and (
                key not in slow or slow_total < self.slow_share
            )
            if ok:
                counts[key] = counts.get(key, 0) + 1
                slow_total += key in slow
            verdicts.append(ok)
        return verdicts


class Sender:
    def __init__(self, pool: Pool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings
        self._allowed = ssrf.parse_networks(settings.sender_allowed_networks)
        self._deadline_s = settings.sender_connect_timeout_s + settings.sender_read_timeout_s
        # A client (and connection pool) per receiver: httpcore scans a pool's every
        # connection on each request, so one big pool costs more the more receivers are
        # busy, and a slow receiver's connections would tax the fast ones.
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()
        self.receivers = Receivers(settings.sender_concurrency)
        self.sent = 0
        self.failed = 0

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        if self._closing:
            await asyncio.wait(self._closing)

    def _client_for(self, key: str) -> httpx.AsyncClient:
        client = self._clients.get(key)
        if client is not None:
            self._clients.move_to_end(key)
            return client
        settings = self._settings
        share = self.receivers.share
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                settings.sender_read_timeout_s, connect=settings.sender_connect_timeout_s
            ),
            follow_redirects=False,
            limits=httpx.Limits(max_connections=share, max_keepalive_connections=share),
            # identity: the snippet stays readable and no compressed bomb is inflated.
            headers={"User-Agent": "tracker-postback/1", "Accept-Encoding": "identity"},
            trust_env=False,
        )
        self._clients[key] = client
        # Receivers not heard from in a while give their connections back.
        idle = [k for k in self._clients if k not in self.receivers.in_flight and k != key]
        for stale in idle[: max(0, len(self._clients) - MAX_CLIENTS)]:
            closing = asyncio.create_task(self._clients.pop(stale).aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return client

    async def send(self, row: Row) -> Outcome:
        started, permanent = time.perf_counter(), False
        try:
            # A read timeout restarts with every byte; this bounds a trickling receiver.
            async with asyncio.timeout(self._deadline_s):
                return await self._send(row, started)
        except TimeoutError:
            error = f"timed out after {self._deadline_s:g} s"
        # Whatever a receiver or a bad URL does, it is this delivery's failure only.
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
            # The SSRF guard's verdict does not change by waiting (a DNS answer may).
            permanent = isinstance(exc, ssrf.RefusedAddress) and not isinstance(
                exc, ssrf.UnresolvedHost
            )
        latency = time.perf_counter() - started
        metrics.delivery_latency.observe(latency)
        return Outcome(None, error, int(latency * 1000), None, permanent=permanent)

    async def _send(self, row: Row, started: float) -> Outcome:
        url: str = row["url"]
        body = orjson.dumps(row["body"]) if row["method"] == "POST" else b""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ssrf.RefusedAddress("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await ssrf.resolve_public(parts.hostname, port, self._allowed)
        host = f"[{address}]" if ":" in address else address
        target = urlunsplit(parts._replace(netloc=f"{host}:{port}"))
        headers = {"Host": parts.netloc.rsplit("@", 1)[-1], DELIVERY_HEADER: str(row["id"])}
        if body:
            headers["Content-Type"] = "application/json"
        client = self._client_for(host_key(url))
        request = client.build_request(
            row["method"],
            target,
            content=body or None,
            headers=headers,
            extensions={"sni_hostname": parts.hostname},
        )
        if row["signing_secret"]:
            request.headers[SIGNATURE_HEADER] = signature(
                row["signing_secret"], int(time.time()), body or request.url.raw_path
            )
        auth = None
        if parts.username is not None:
            auth = httpx.BasicAuth(unquote(parts.username), unquote(parts.password or ""))
        response = await client.send(request, stream=True, auth=auth)
        try:
            snippet = b""
            async for chunk in response.aiter_raw():
                snippet += chunk
                if len(snippet) >= SNIPPET_BYTES:
                    break  # a huge body is not read to its end
        finally:
            await response.aclose()
        latency = time.perf_counter() - started
        metrics.delivery_latency.observe(latency)
        code = response.status_code
        return Outcome(
            status_code=code,
            error=None if 200 <= code < 300 else f"HTTP {code}",
            latency_ms=int(latency * 1000),
            snippet=snippet[:SNIPPET_BYTES].decode("utf-8", "replace"),
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
        )

    async def _deliver(self, row: Row, key: str, started: float) -> None:
        try:
            outcome = await self.send(row)
        finally:
            self.receivers.finish(key, started)
        try:
            await self._record(row, outcome)
        except (OSError, asyncpg.PostgresError) as exc:
            # The row stays leased and is tried again when the lease ends.
            if outage.server_down(exc) is None:
                logger.exception("recording delivery %s failed", row["id"])
            else:  # expected while PostgreSQL is down: one line, no traceback
                logger.warning("recording delivery %s failed: %s", row["id"], exc)

    async def _record(self, row: Row, outcome: Outcome) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                queries.RECORD_ATTEMPT,
                row["id"],
                outcome.status_code,
                _text(outcome.error),
                outcome.latency_ms,
                _text(outcome.snippet),
            )
            if outcome.ok:
                await conn.execute(queries.MARK_DELIVERED, row["id"])
                self.sent += 1
                metrics.deliveries_sent.inc()
                return
            schedule = [] if outcome.permanent else self._settings.sender_retry_schedule_s
            when = next_attempt(row["attempts"] + 1, schedule, outcome.retry_after_s)
            status = "pending" if when is not None else "failed"
            await conn.execute(
                queries.MARK_RETRY,
                row["id"],
                status,
                when or datetime.now(UTC),
                _text(outcome.error),
            )
        if status == "failed":
            self.failed += 1
            metrics.deliveries_failed.inc()
        else:
            metrics.deliveries_retried.inc()

    async def _claim(self, limit: int) -> tuple[list[Coroutine[Any, Any, None]], bool]:
        """Claim up to `limit` due rows: a delivery to run for each admitted one, and
        whether some receivers were left out (so an empty claim does not mean idle)."""
        busy = self.receivers.busy()
        rows = await self._pool.fetch(queries.CLAIM, limit, LEASE, busy)
        keys = [host_key(row["url"]) for row in rows]
        admitted = self.receivers.admit(keys)
        back = [row for row, ok in zip(rows, admitted, strict=True) if not ok]
        if back:
            await self._pool.execute(
                queries.RELEASE, [r["id"] for r in back], [r["due_at"] for r in back]
            )
        deliveries = [
            self._deliver(row, key, self.receivers.start(key))
            for row, key, ok in zip(rows, keys, admitted, strict=True)
            if ok
        ]
        return deliveries, bool(busy or back)

    async def run_once(self) -> int:
        """Claim due deliveries and send them concurrently; the count sent."""
        deliveries, _ = await self._claim(self._settings.sender_concurrency)
        await asyncio.gather(*deliveries)
        return len(deliveries)

    async def run(self, *, stop: asyncio.Event, burst: bool = False) -> None:
        """Keep up to sender_concurrency tries in flight until `stop` (or, in burst mode,
        until nothing is due), then finish the tries in hand."""
        in_flight: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(stop.wait())
        # Claiming a few rows per finished try would cost a query each; wait for a batch.
        refill_at = max(1, self._settings.sender_concurrency // 4)
        try:
            while not stop.is_set():
                free = self._settings.sender_concurrency - len(in_flight)
                claimed, held_back = 0, False
                if free >= refill_at or not in_flight:
                    try:
                        deliveries, held_back = await self._claim(free)
                    except (OSError, asyncpg.PostgresError) as exc:
                        logger.warning("sender poll failed: %s", exc)
                        deliveries = []
                    claimed = len(deliveries)
                    for delivery in deliveries:
                        task = asyncio.create_task(delivery)
                        in_flight.add(task)
                        task.add_done_callback(in_flight.discard)
                if not in_flight and not claimed:
                    if held_back:
                        continue  # the receivers left out are free again by now
                    if burst:
                        return
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), IDLE_POLL_S)
                    continue
                await asyncio.wait(
                    {*in_flight, stopping},
                    timeout=None if free - claimed < refill_at else IDLE_POLL_S,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            if in_flight:
                await asyncio.wait(in_flight)
        finally:
            stopping.cancel()
            # Cancelled (killed): unfinished rows keep their lease and come back after it.
            for task in in_flight:
                task.cancel()
            if in_flight:
                await asyncio.wait(in_flight)


# --- the outbox, written by attribution -------------------------------------------


def _money(value: Any) -> str:
    return format_money(value) if isinstance(value, Decimal) else str(value or "0")


def postback_values(conversion: Row) -> dict[str, str]:
    """The affiliate postback macros of a conversion, as text."""

    def text(name: str) -> str:
        value = conversion.get(name)
        if isinstance(value, uuid.UUID):
            # The click ID as the redirect handed it out, not the stored UUID.
            return format_click_id(value)
        return "" if value is None else str(value)

    values = {name: text(name) for name in ("click_id", "aff_click_id", *macros.SUB_IDS)}
    values |= {
        "payout": _money(conversion.get("payout")),
        "status": text("status"),
        "event": text("goal") or text("event"),
        "txid": text("txid"),
        "offer_id": text("offer_id"),
    }
    return values


def postback_request(
    *, template: str, method: str, conversion: Row
) -> tuple[str, dict[str, Any] | None]:
    """The URL (macros filled, URL-encoded) and, for POST, the JSON body of a postback."""
    values = postback_values(conversion)
    url = macros.fill(template, values)
    if method != "POST":
        return url, None
    body: dict[str, Any] = {name: values[name] or None for name in values}
    body["offer_id"] = conversion.get("offer_id")
    body["conversion_id"] = conversion.get("id")
    body["currency"] = conversion.get("currency")
    return url, body


DeliveryRow = tuple[int, int, str, str, str, dict[str, Any] | None]


def delivery_for(*, conversion: Row, affiliate: Row) -> DeliveryRow | None:
    """The outbox row (conversion, affiliate, status, method, url, body) for a conversion
    just attributed or changed, or None when the affiliate wants no postback for it.

    An affiliate with postback_on 'approved' hears of approved conversions only; with
    'all', of every status change, so a reversal arrives with {status} = rejected.
    """
    template = affiliate["postback_url"]
    status = conversion["status"]
    if not template or status == "unattributed":
        return None
    if affiliate["postback_on"] != "all" and status != "approved":
        return None
    method = affiliate["postback_method"]
    url, body = postback_request(template=template, method=method, conversion=conversion)
    return conversion["id"], affiliate["id"], status, method, url, body


async def enqueue_delivery(
    conn: Executor,
    *,
    conversion: Row,
    affiliate: Row | None = None,
) -> int | None:
    """Write the outbox row for one conversion (see `delivery_for`) in the caller's
    transaction; its ID, or None when no postback is due.

    `conversion` is a conversions row (id, affiliate_id, offer_id, status, goal, txid,
    click_id, aff_click_id, sub1..sub5, payout, currency); `affiliate` (id, postback_url,
    postback_method, postback_on) is read when not given.
    """
    affiliate_id = conversion.get("affiliate_id")
    if affiliate_id is None:
        return None
    if affiliate is None:
        affiliate = await conn.fetchrow(queries.AFFILIATE_FOR_POSTBACK, affiliate_id)
        if affiliate is None:
            return None
    row = delivery_for(conversion=conversion, affiliate=affiliate)
    if row is None:
        return None
    delivery_id: int = await conn.fetchval(queries.INSERT_DELIVERY, *row)
    return delivery_id


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
