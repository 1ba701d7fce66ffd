"""One try of a delivery: resolve and check the address, sign, send, keep a snippet.

Only a 2xx counts; redirects are not followed. Whatever a receiver or a bad URL does is
that delivery's failed try, never the sender's crash.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit

import orjson

from app import sealing, signing
from app.sender import http1, metrics, ssrf
from app.sender.deliveries import Claimed
from app.sender.receivers import Receivers
from app.settings import Settings
from app.webhooks import sealed as webhook_secrets

SNIPPET_BYTES = 1024
SIGNATURE_HEADER = "X-Tracker-Signature"
DELIVERY_HEADER = "X-Tracker-Delivery"
MAX_CLIENTS = 256  # receivers whose connections are kept open
USER_AGENT = "tracker-postback/1"


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
    """Makes the tries, over keep-alive connections per receiver (app/sender/http1.py):
    at most a receiver's share of the slots are open to it, since no more of its tries
    run at once."""

    def __init__(self, settings: Settings, receivers: Receivers) -> None:
        self._settings = settings
        self._allowed = ssrf.parse_networks(settings.sender_allowed_networks)
        # Opens webhook secrets (sealed at rest) to sign; checked at start (service.run).
        self._sealer = sealing.sealer_of(settings)
        self._deadline_s = settings.sender_connect_timeout_s + settings.sender_read_timeout_s
        self._client = http1.Client(
            connect_timeout_s=settings.sender_connect_timeout_s,
            read_timeout_s=settings.sender_read_timeout_s,
            keep=receivers.share,
            max_origins=MAX_CLIENTS,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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
        method: str = row["method"]
        body = orjson.dumps(row["body"]) if method == "POST" else b""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ssrf.RefusedAddress("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = await ssrf.resolve_public(parts.hostname, port, self._allowed)
        # The checked address is where the connection goes; Host and the TLS name stay.
        origin = http1.Origin(address, port, parts.hostname if parts.scheme == "https" else None)
        target = http1.request_target(parts.path, parts.query)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            # identity: the snippet stays readable and no compressed bomb is inflated.
            "Accept-Encoding": "identity",
            DELIVERY_HEADER: str(row["id"]),
        }
        if body:
            headers["Content-Type"] = "application/json"
        if webhook:
            # Standard Webhooks: the same webhook-id on every try, this try's timestamp.
            timestamp = int(time.time())
            headers["webhook-id"] = row["event_id"]
            headers["webhook-timestamp"] = str(timestamp)
            keys = [row["webhook_secret"], row["webhook_previous_secret"]]
            headers["webhook-signature"] = " ".join(
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
            headers[SIGNATURE_HEADER] = signing.sign(
                row["signing_secret"], int(time.time()), body or target.encode("ascii")
            )
        if parts.username is not None:
            headers["Authorization"] = http1.basic_auth(
                unquote(parts.username), unquote(parts.password or "")
            )
        host = parts.netloc.rsplit("@", 1)[-1]
        if not host.isascii():  # an internationalised name goes as its IDNA form
            host = parts.hostname.encode("idna").decode("ascii")
            host += f":{parts.port}" if parts.port else ""
        head = http1.request_head(
            method,
            target,
            host,
            headers,
            len(body) if method == "POST" else None,
        )
        response = await self._client.request(
            origin, method, head, body, snippet_bytes=SNIPPET_BYTES
        )
        latency = time.perf_counter() - started
        metrics.delivery_latency.observe(latency)
        code = response.status_code
        return Attempt(
            status_code=code,
            error=None if 200 <= code < 300 else f"HTTP {code}",
            latency_ms=int(latency * 1000),
            snippet=response.snippet[:SNIPPET_BYTES].decode("utf-8", "replace"),
            retry_after_s=retry_after_seconds(response.headers.get("retry-after")),
            # Standard Webhooks: 410 Gone means the receiver wants no more (the endpoint
            # is disabled with it).
            permanent=webhook and code == 410,
        )
