"""Postback and pixel intake: authenticate from the cache, validate, queue durably.

Nothing here touches PostgreSQL per request: the advertiser comes from the in-process
cache, and the conversion goes to the `conversions` stream (or the local spool) for the
worker to attribute. The answer waits until the record is durably queued. A postback
judged against a cache that turns out stale is judged again (app.postbacks.freshness).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace

from redis.asyncio import Redis

from app import signing
from app.db import Pool
from app.errors import AppError, BadRequest
from app.postbacks import freshness, params
from app.postbacks.cache import Advertiser, AdvertiserCache
from app.postbacks.limits import PixelLimiter
from app.postbacks.records import ConversionRecord, encode_said
from app.postbacks.sources import PostbackSources
from app.privacy import anonymize
from app.proxies import TrustedProxies
from app.redis import is_cluster
from app.settings import Settings
from app.streams import keys
from app.streams.durable_queue import CommitFailed, DurableQueue, Refused

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-signature"
# Judgements of one postback at most: each further one follows a catalog change that
# landed between judging it and queuing it. Past them the sender is told to retry.
JUDGEMENTS = 3
NOT_QUEUED = "the conversion could not be queued; retry later"


class InvalidToken(AppError, status=401, code="invalid_token"): ...


class InvalidSignature(AppError, status=401, code="invalid_signature"): ...


class AddressNotAllowed(AppError, status=403, code="address_not_allowed"): ...


class Unavailable(AppError, status=503, code="unavailable"): ...


class TooLarge(AppError, status=413, code="too_large"): ...


class UnsupportedMediaType(AppError, status=415, code="unsupported_media_type"): ...


@dataclass
class Intake:
    """The intake routes' resources, built complete by `open_intake` in the lifespan."""

    settings: Settings
    cache: AdvertiserCache
    queue: DurableQueue
    limiter: PixelLimiter | None
    trusted: TrustedProxies = field(init=False)

    def __post_init__(self) -> None:
        self.trusted = TrustedProxies(self.settings.trusted_proxies)


async def open_intake(*, settings: Settings, pool: Pool, redis: Redis) -> Intake:
    """The intake with its advertiser cache loaded and its queue running."""
    budget_s = settings.redis_budget_ms / 1000
    cache = await AdvertiserCache.open(pool, redis, settings, budget_s=budget_s)
    queue = DurableQueue(
        redis,
        stream=keys.CONVERSIONS,
        settings=settings,
        admission=freshness.ADMISSION,
        admission_keys=freshness.admission_keys(cluster=is_cluster(settings.require_urls()[1])),
    )
    queue.start()
    limiter = PixelLimiter(redis, per_minute=settings.pixel_rate_per_minute, budget_s=budget_s)
    return Intake(settings=settings, cache=cache, queue=queue, limiter=limiter)


async def stop(intake: Intake) -> None:
    await intake.queue.stop()
    await intake.cache.stop()


def check_signature(
    secret: bytes, header: str | None, payload: bytes, *, now: float, max_age_s: int
) -> None:
    """Raise unless `header` signs `payload` with `secret` and is recent enough."""
    if not header:
        raise InvalidSignature(f"this advertiser signs postbacks: send {SIGNATURE_HEADER}")
    fields: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep or name in fields:
            raise BadRequest(
                "malformed signature: expected t=<time>,v1=<hex>", code="bad_signature"
            )
        fields[name] = value
    stamp, given = fields.get("t", ""), fields.get("v1", "")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12) or not given:
        raise BadRequest("malformed signature: expected t=<time>,v1=<hex>", code="bad_signature")
    timestamp = int(stamp)
    # A replay of a captured request is refused once it is older than the window; the
    # window also bounds clock skew the other way.
    if abs(now - timestamp) > max_age_s:
        raise InvalidSignature("the signature is too old (or from the future)")
    if not signing.verify(secret, timestamp, payload, given):
        raise InvalidSignature("the signature does not match")


def _check_address(
    advertiser: Advertiser, trusted: TrustedProxies, peer: str, forwarded_for: str | None
) -> None:
    if not advertiser.networks:
        return
    ip = trusted.client_ip(peer, forwarded_for)
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise AddressNotAllowed("this address may not send postbacks") from None
    if not any(address in network for network in advertiser.networks):
        raise AddressNotAllowed("this address may not send postbacks")


async def read_body(chunks: AsyncIterator[bytes], *, declared: str | None, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` (never read whole)."""
    # int() of thousands of digits raises; a declared size of 19 digits is too large anyway.
    if (
        declared is not None
        and declared.isascii()
        and declared.isdigit()
        and (len(declared) > 18 or int(declared) > limit)
    ):
        raise TooLarge(f"the body must be at most {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the body must be at most {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def media_type_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def body_params(content_type: str, body: bytes) -> params.Raw:
    media = media_type_of(content_type)
    if not body.strip():
        return {}
    if media == "application/json" or media.endswith("+json"):
        return params.from_json(body)
    if media == "application/x-www-form-urlencoded":
        try:
            return params.from_query(body.decode("utf-8"))
        except UnicodeDecodeError:
            raise BadRequest("the form body is not UTF-8", code="invalid_request") from None
    raise UnsupportedMediaType("send the parameters in the query string, as a form or as JSON")


async def receive_postback(
    intake: Intake,
    *,
    method: str,
    query: bytes,
    headers: Mapping[str, str],
    peer: str,
    chunks: AsyncIterator[bytes],
) -> None:
    """A whole postback request, from its parts; AppError when it is refused."""
    sources = query_sources(query)
    if method == "POST":
        body = await read_body(
            chunks,
            declared=headers.get("content-length"),
            limit=intake.settings.postback_max_body_bytes,
        )
        if body:
            content_type = headers.get("content-type", "")
            sources = replace(
                sources,
                body=body,
                from_body=body_params(content_type, body),
                media_type=media_type_of(content_type),
            )
    await accept_postback(
        intake,
        sources=sources,
        peer=peer,
        forwarded_for=headers.get("x-forwarded-for"),
        signature=headers.get(SIGNATURE_HEADER),
    )


def query_sources(query: bytes) -> PostbackSources:
    """A request's parameters as its query string gives them (BadRequest if it cannot)."""
    return PostbackSources(query=query, from_query=params.from_query(query))


async def accept_postback(
    intake: Intake,
    *,
    sources: PostbackSources,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
    judgements: int = JUDGEMENTS,
) -> None:
    """Check a postback and queue it; AppError (4xx/503) when it is refused.

    It is judged against the advertiser cache as it is. The stream refuses the record
    when the catalog has changed since the cache's version, and a 4xx is answered only
    once a version read after the postback arrived confirms the cache; otherwise the
    cache is reloaded and the postback judged again. Neither a 200 nor a refusal rests
    on settings older than the request.
    """
    cache = intake.cache
    for _ in range(judgements):
        version = cache.version
        try:
            record = judge(
                intake, sources, peer=peer, forwarded_for=forwarded_for, signature=signature
            )
        except AppError:
            if await cache.moved_since(version):
                continue
            raise
        try:
            await intake.queue.put(record, admission=freshness.admission_args(version))
        except Refused:
            await cache.current()
            continue
        except CommitFailed:
            raise Unavailable(NOT_QUEUED) from None
        return
    raise Unavailable("the advertiser's settings are changing; retry later")


def judge(
    intake: Intake,
    sources: PostbackSources,
    *,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
    received_us: int | None = None,
) -> bytes:
    """The postback's conversion record, judged against the cache as it is (no await
    between reading the cache's version and this); AppError when it is refused.
    `received_us`: now, unless given."""
    advertiser = _advertiser(
        intake, sources.token, sources.signed_payload, peer, forwarded_for, signature
    )
    raw = sources.parameters(signed=advertiser.signing_secret is not None)
    return _record(advertiser, raw, time.time_ns() // 1000 if received_us is None else received_us)


def judge_query(
    intake: Intake,
    query: bytes,
    raw: params.Raw,
    *,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
    received_us: int | None = None,
) -> bytes:
    """`judge` of `query_sources(query)`, whose parameters are `raw`, without building
    the sources (the edge's hot path): without a body, the query string is the
    parameters, the token's source and the signed payload alike."""
    advertiser = _advertiser(intake, params.token_of(raw), query, peer, forwarded_for, signature)
    return _record(advertiser, raw, time.time_ns() // 1000 if received_us is None else received_us)


def _advertiser(
    intake: Intake,
    token: str | None,
    signed_payload: bytes,
    peer: str,
    forwarded_for: str | None,
    signature: str | None,
) -> Advertiser:
    """The advertiser the token names, whose address and signature rules the request
    meets; AppError otherwise."""
    advertiser = intake.cache.lookup(token) if token else None
    if advertiser is None:
        raise InvalidToken("a valid postback token is required")
    _check_address(advertiser, intake.trusted, peer, forwarded_for)
    if advertiser.signing_secret is not None:
        check_signature(
            advertiser.signing_secret,
            signature,
            signed_payload,
            now=time.time(),
            max_age_s=intake.settings.postback_signature_max_age_s,
        )
    return advertiser


def _record(advertiser: Advertiser, raw: params.Raw, received_us: int) -> bytes:
    conversion = params.parse_said(raw)
    if conversion.click_id is None:
        if conversion.coupon is None and conversion.customer_id is None:
            raise BadRequest(
                "click_id, coupon or customer_id is required", code="missing_parameter"
            )
        if conversion.txid is None:
            # Without a click there is nothing else to tell one order from the next.
            raise BadRequest("txid is required without a click_id", code="missing_parameter")
    # A click-less postback names its offer by offer_id (see app/customers/attribution.py).
    return encode_said(
        conversion, via="postback", advertiser_id=advertiser.id, received_us=received_us
    )


async def receive_pixel(
    intake: Intake,
    *,
    query: bytes,
    cookie: str | None,
    peer: str = "",
    forwarded_for: str | None = None,
) -> None:
    """A whole pixel request; never raises, since the browser gets its GIF anyway."""
    try:
        await accept_pixel(
            intake,
            raw=params.from_query(query),
            cookie=cookie,
            ip=intake.trusted.client_ip(peer, forwarded_for),
        )
    except BadRequest as exc:
        logger.info("pixel ignored: %s", exc.message)
    except Exception:
        logger.exception("pixel failed")


async def accept_pixel(
    intake: Intake, *, raw: params.Raw, cookie: str | None, ip: str = ""
) -> bool:
    """Queue a pixel conversion; False when there is nothing to attribute.

    A pixel answers with its GIF whatever happens, so problems are logged, not raised.
    The browser is not trusted with a status or payout: the offer says what a pixel
    conversion starts as (`pixel_status`, pending by default), whether pixels count at
    all (`pixel_policy`), and a repeat changes nothing. Each address may send
    `PIXEL_RATE_PER_MINUTE` pixels a minute; more are dropped here and counted.
    """
    try:
        conversion = params.parse_conversion(raw)
        click_id = conversion.click_id or (
            params.click_id_of({"click_id": cookie}) if cookie else None
        )
    except BadRequest as exc:
        logger.info("pixel ignored: %s", exc.message)
        return False
    if click_id is None:
        return False
    if intake.settings.ip_anonymize:
        ip = anonymize.truncate(ip)
    if intake.limiter is not None and not await intake.limiter.allow(ip):
        return False
    record = ConversionRecord.of(
        conversion,
        via="pixel",
        advertiser_id=None,
        received_us=time.time_ns() // 1000,
        click_id=click_id,
        payout=None,
        # Attribution sets the offer's pixel_status; the browser's word is not taken.
        status="pending",
    )
    try:
        await intake.queue.put(record.encode())
    except CommitFailed:
        logger.error("pixel conversion for click %s could not be queued", click_id)
        return False
    return True
