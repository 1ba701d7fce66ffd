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
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson

from app import sealing, signing
from app.sender import http1, metrics, ssrf
from app.sender.deliveries import Claimed
from app.sender.receivers import Receivers, host_key
from app.settings import Settings
from app.webhooks import sealed as webhook_secrets

SNIPPET_BYTES = 1024
SIGNATURE_HEADER = "X-Tracker-Signature"
DELIVERY_HEADER = "X-Tracker-Delivery"
MAX_CLIENTS = 256  # receivers whose connections are kept open
MAX_CACHED = 4096  # URLs and signing keys worked out once, at most
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


@dataclass(frozen=True, slots=True)
class _Target:
    """What every try to one URL shares, worked out once: where the connection goes (an
    IP literal's address, already checked: the verdict cannot change; a name is resolved
    and checked at every try) and the request's fixed lines."""

    key: str  # the receiver (receivers.host_key)
    hostname: str
    port: int
    tls_name: str | None
    origin: http1.Origin | None  # an IP literal's, checked
    target: str  # the request target, as sent (and signed, for a GET)
    head: bytes  # request line, Host and the fixed headers

    @classmethod
    def of(cls, url: str, method: str, allowed: list[ssrf.IPNetwork]) -> _Target:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ssrf.RefusedAddress("not an http(s) URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        tls_name = parts.hostname if parts.scheme == "https" else None
        literal = ssrf.checked_literal(parts.hostname, allowed)
        target = http1.request_target(parts.path, parts.query)
        headers = {
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            # identity: the snippet stays readable and no compressed bomb is inflated.
            "Accept-Encoding": "identity",
        }
        if method == "POST":
            headers["Content-Type"] = "application/json"
        if parts.username is not None:
            headers["Authorization"] = http1.basic_auth(
                unquote(parts.username), unquote(parts.password or "")
            )
        host = parts.netloc.rsplit("@", 1)[-1]
        if not host.isascii():  # an internationalised name goes as its IDNA form
            host = parts.hostname.encode("idna").decode("ascii")
            host += f":{parts.port}" if parts.port else ""
        return cls(
            key=host_key(url),
            hostname=parts.hostname,
            port=port,
            tls_name=tls_name,
            origin=None if literal is None else http1.Origin(literal, port, tls_name),
            target=target,
            head=http1.head_lines(method, target, host, headers),
        )


def _body(value: Any) -> bytes:
    # The claim reads the stored JSON as text: sent as stored, no decoding and encoding.
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


class Courier:
    """Makes the tries, over keep-alive connections per receiver (app/sender/http1.py):
    at most a receiver's share of the slots are open to it, since no more of its tries
    run at once; a fast receiver's tries are pipelined (`Receivers.pipelines`). What
    tries share is worked out once: a URL's target (`_Target`) and an endpoint's
    signing key (by its stored secret, so a rotation is a new key)."""

    def __init__(self, settings: Settings, receivers: Receivers) -> None:
        self._settings = settings
        self._receivers = receivers
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
        self._targets: dict[tuple[str, str], _Target] = {}
        self._keys: dict[tuple[int, str], bytes] = {}

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

    def _target(self, url: str, method: str) -> _Target:
        target = self._targets.get((url, method))
        if target is None:
            target = _Target.of(url, method, self._allowed)  # a bad URL is not kept
            if len(self._targets) >= MAX_CACHED:
                self._targets.clear()
            self._targets[url, method] = target
        return target

    def _key(self, webhook_id: int, stored: str) -> bytes:
        key = self._keys.get((webhook_id, stored))
        if key is None:
            secret = webhook_secrets.open_secret(self._sealer, webhook_id, stored)
            key = signing.webhook_key(secret)
            if len(self._keys) >= MAX_CACHED:
                self._keys.clear()
            self._keys[webhook_id, stored] = key
        return key

    async def _send(self, row: Claimed, started: float) -> Attempt:
        webhook = row.get("kind") == "webhook"
        if webhook and (row["webhook_secret"] is None or row["webhook_status"] != "enabled"):
            raise Undeliverable("the webhook endpoint was deleted or disabled")
        method: str = row["method"]
        body = _body(row["body"]) if method == "POST" else b""
        target = self._target(row["url"], method)
        # The SSRF guard, before every try: a name is resolved and every address checked;
        # the connection goes to the checked address (Host and the TLS name stay).
        origin = target.origin or http1.Origin(
            await ssrf.resolve_public(target.hostname, target.port, self._allowed),
            target.port,
            target.tls_name,
        )
        headers = {DELIVERY_HEADER: str(row["id"])}
        if webhook:
            # Standard Webhooks: the same webhook-id on every try, this try's timestamp.
            timestamp = int(time.time())
            event_id: str = row["event_id"]
            headers["webhook-id"] = event_id
            headers["webhook-timestamp"] = str(timestamp)
            keys = [row["webhook_secret"], row["webhook_previous_secret"]]
            headers["webhook-signature"] = " ".join(
                signing.webhook_signature(
                    self._key(row["webhook_id"], secret), event_id, timestamp, body
                )
                for secret in keys
                if secret  # the previous one, for a day after a rotation
            )
        elif row["signing_secret"]:
            # Over the body of a POST, the request target (exactly as sent) of a GET.
            headers[SIGNATURE_HEADER] = signing.sign(
                row["signing_secret"], int(time.time()), body or target.target.encode("ascii")
            )
        if method == "POST":
            headers["Content-Length"] = str(len(body))
        head = target.head + http1.header_lines(headers) + b"\r\n"
        response = await self._client.request(
            origin,
            method,
            head,
            body,
            snippet_bytes=SNIPPET_BYTES,
            pipelined=self._receivers.pipelines(target.key),
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
