"""One try of a delivery: resolve and check the address, sign, send, keep a snippet.

Only a 2xx counts; redirects are not followed. Whatever a receiver or a bad URL does is
that delivery's failed try, never the sender's crash.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import orjson

from app import sealing, signing
from app.sender import metrics, ssrf
from app.sender.deliveries import Claimed
from app.sender.receivers import Receivers, host_key
from app.settings import Settings
from app.webhooks import sealed as webhook_secrets

SNIPPET_BYTES = 1024
SIGNATURE_HEADER = "X-Tracker-Signature"
DELIVERY_HEADER = "X-Tracker-Delivery"
MAX_CLIENTS = 256  # receivers whose connections are kept open


class Undeliverable(Exception):
    """Trying again cannot help: the delivery fails at once."""


@dataclass(frozen=True, slots=True)
class Attempt:
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


class Courier:
    """Makes the tries, over a client (and connection pool) per receiver: httpcore scans a
    pool's every connection on each request, so one big pool costs more the more receivers
    are busy, and a slow receiver's connections would tax the fast ones."""

    def __init__(self, settings: Settings, receivers: Receivers) -> None:
        self._settings = settings
        self._receivers = receivers
        self._allowed = ssrf.parse_networks(settings.sender_allowed_networks)
        # Opens webhook secrets (sealed at rest) to sign; checked at start (service.run).
        self._sealer = sealing.sealer_of(settings)
        self._deadline_s = settings.sender_connect_timeout_s + settings.sender_read_timeout_s
        self._clients: OrderedDict[str, httpx.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

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
        share = self._receivers.share
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
        busy = self._receivers.in_flight
        idle = [k for k in self._clients if k not in busy and k != key]
        for stale in idle[: max(0, len(self._clients) - MAX_CLIENTS)]:
            closing = asyncio.create_task(self._clients.pop(stale).aclose())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        return client

    async def send(self, row: Claimed) -> Attempt:
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
            permanent = isinstance(exc, Undeliverable) or (
                isinstance(exc, ssrf.RefusedAddress) and not isinstance(exc, ssrf.UnresolvedHost)
            )
        latency = time.perf_counter() - started
        metrics.delivery_latency.observe(latency)
        return Attempt(None, error, int(latency * 1000), None, permanent=permanent)

    async def _send(self, row: Claimed, started: float) -> Attempt:
        url: str = row["url"]
        webhook = row.get("kind") == "webhook"
        if webhook and (row["webhook_secret"] is None or row["webhook_status"] != "enabled"):
            raise Undeliverable("the webhook endpoint was deleted or disabled")
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
        if webhook:
            # Standard Webhooks: the same webhook-id on every try, this try's timestamp.
            timestamp = int(time.time())
            request.headers["webhook-id"] = row["event_id"]
            request.headers["webhook-timestamp"] = str(timestamp)
            keys = [row["webhook_secret"], row["webhook_previous_secret"]]
            request.headers["webhook-signature"] = " ".join(
                signing.webhook_signature(
                    webhook_secrets.open_secret(self._sealer, row["webhook_id"], secret),
                    row["event_id"],
                    timestamp,
                    body,
                )
                for secret in keys
                if secret  # the previous one, for a day after a rotation
            )
        elif row["signing_secret"]:
            # Over the body of a POST, the request target (exactly as sent) of a GET.
            request.headers[SIGNATURE_HEADER] = signing.sign(
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
        return Attempt(
            status_code=code,
            error=None if 200 <= code < 300 else f"HTTP {code}",
            latency_ms=int(latency * 1000),
            snippet=snippet[:SNIPPET_BYTES].decode("utf-8", "replace"),
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
            # Standard Webhooks: 410 Gone means the receiver wants no more (the endpoint
            # is disabled with it).
            permanent=webhook and code == 410,
        )
