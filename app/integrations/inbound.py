"""`POST /integrations/{provider}/{id}`: a CRM's call, authenticated, read through the
integration's maps and queued as conversions through the postbacks' own durable intake.

Each deal becomes a `ConversionRecord` of the integration's advertiser with the deal ID
as its `txid`, put on the `conversions` stream (or the spool) as a postback's is, so the
worker's dedupe on (advertiser, txid) turns a deal's later stages into status changes
of one conversion: pending -> approved (closed won) -> rejected (closed lost). A status
is ordered by its arrival here, so the last stage the CRM sent wins. An exact replay of a
signed call is refused while its signature is young enough to pass.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.attribution import service as attribution_service
from app.db import Pool
from app.errors import AppError, BadRequest, NotFound
from app.integrations import bodies, hubspot, queries, sealed
from app.integrations.mapping import outcome_of
from app.postbacks import params
from app.postbacks import service as intake_service
from app.postbacks.records import ConversionRecord
from app.sealing import Sealer
from app.settings import Settings
from app.streams.durable_queue import CommitFailed

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "x-tracker-signature"
TOKEN_HEADER = "x-tracker-token"


class Replayed(AppError, status=409, code="replayed"): ...


@dataclass(frozen=True, slots=True)
class Call:
    """One inbound request, as read by the route."""

    method: str
    # The full URL as the CRM requested it (scheme and host as a trusted proxy says).
    uri: str
    query: bytes
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: int
    ignored: list[str]
    batch: bool


async def _integration(pool: Pool, provider: str, integration_id: int) -> Any:
    row = await pool.fetchrow(queries.INBOUND, integration_id)
    if (
        row is None
        or row["provider"] != provider
        or row["status"] != "enabled"
        or row["advertiser_status"] != "active"
    ):
        raise NotFound(f"no enabled {provider} integration {integration_id}")
    return row


def remember_s(settings: Settings) -> int:
    """How long an accepted signed call is remembered: longer than its signature passes
    the age check, which allows as much skew ahead as behind."""
    max_age_s = max(hubspot.MAX_AGE_MS // 1000, settings.postback_signature_max_age_s)
    return 2 * max_age_s + 60


def _token_of(call: Call) -> str | None:
    header = call.headers.get(TOKEN_HEADER)
    if header:
        return header.strip()
    return params.token_of(params.from_query(call.query))


def authenticate(row: Any, call: Call, *, max_age_s: int, sealer: Sealer | None) -> bytes | None:
    """Raise 401 (or 400 for a malformed signature) unless the call is the CRM's; the
    key an exact replay is known by, for signed calls. The HMAC key is opened per call
    (AES-GCM of a few dozen bytes: microseconds, so it is not cached); a key that does
    not open is a 503."""
    provider = row["provider"]
    if provider == "hubspot":
        return hubspot.verify(
            sealed.open_key(sealer, row["id"], row["secret"]),
            method=call.method,
            uri=call.uri,
            body=call.body,
            headers=call.headers,
            now_ms=time.time_ns() // 1_000_000,
        )
    if provider == "zoho":
        token = _token_of(call)
        given = hashlib.sha256((token or "").encode()).digest()
        if not token or not hmac.compare_digest(given, bytes(row["token_hash"])):
            raise intake_service.InvalidToken(
                f"send the integration's token in {TOKEN_HEADER} or as ?token="
            )
        return None
    header = call.headers.get(SIGNATURE_HEADER)
    if not header:
        raise intake_service.InvalidSignature(f"send {SIGNATURE_HEADER}: t=<time>,v1=<hex>")
    intake_service.check_signature(
        sealed.open_key(sealer, row["id"], row["secret"]).encode(),
        header,
        call.body,
        now=time.time(),
        max_age_s=max_age_s,
    )
    return header.strip().encode()


async def _conversion(
    pool: Pool, row: Any, deal: bodies.Deal, received_us: int
) -> ConversionRecord | str:
    """The deal's conversion record, or why it is ignored; BadRequest for bad values."""
    if deal.skip is not None:
        return deal.skip
    if deal.txid is None:
        raise BadRequest("the deal ID (field_map.txid) is missing", code="missing_parameter")
    if deal.stage is None:
        raise BadRequest("the stage (field_map.stage) is missing", code="missing_parameter")
    outcome = outcome_of(row["stage_map"], deal.stage)
    if outcome is None:
        return f"stage {deal.stage[:200]!r} is not in the stage_map"
    raw: params.Raw = {"txid": deal.txid, "status": outcome.status}
    for name, value in (
        ("click_id", deal.click_id),
        ("amount", deal.amount),
        ("currency", deal.currency),
        ("event", outcome.goal),
    ):
        if value is not None:
            raw[name] = value
    conversion = params.parse_conversion(raw)
    if deal.customer_id is not None and len(deal.customer_id) > params.MAX_TXID_CHARS:
        raise BadRequest("customer_id: longer than 255 characters", code="invalid_parameter")
    click_id: uuid.UUID | None = conversion.click_id
    if click_id is None:
        # A stage change without the click (a webhooks-API event carries the deal ID and
        # its new stage only) moves the conversion an earlier call made for this deal.
        click_id = await attribution_service.click_of_txid(
            pool, advertiser_id=row["advertiser_id"], txid=deal.txid
        )
        if click_id is None and deal.customer_id is None:
            return (
                f"deal {deal.txid[:100]!r} has no click ID and no conversion yet "
                "(send the click ID or customer ID property with its first mapped stage)"
            )
    # Without a click, the customer's binding credits the deal (app/customers/attribution.py).
    return ConversionRecord.of(
        conversion,
        via="postback",
        advertiser_id=row["advertiser_id"],
        received_us=received_us,
        click_id=click_id,
        payout=None,
        offer_id=row["offer_id"],
        customer_id=deal.customer_id,
        coupon=None,
    )


async def receive(
    pool: Pool,
    intake: intake_service.Intake,
    *,
    provider: str,
    integration_id: int,
    call: Call,
    content_type: str,
    sealer: Sealer | None,
) -> Outcome:
    """Check a call and queue its conversions; AppError (4xx, 503) when it is refused."""
    row = await _integration(pool, provider, integration_id)
    replay_key = authenticate(
        row, call, max_age_s=intake.settings.postback_signature_max_age_s, sealer=sealer
    )
    deals = bodies.READERS[provider](call.body, content_type, row["field_map"])
    now_us = time.time_ns() // 1000
    records: list[ConversionRecord] = []
    ignored: list[str] = []
    # Deals of one call are ordered as sent: a later event of a deal wins over an earlier.
    for index, deal in enumerate(deals):
        made = await _conversion(pool, row, deal, now_us + index)
        if isinstance(made, str):
            ignored.append(made)
        else:
            records.append(made)
    batch = provider == "hubspot" and call.body.lstrip()[:1] == b"["
    if not records:
        return Outcome(accepted=0, ignored=ignored, batch=batch)
    digest = None if replay_key is None else hashlib.sha256(replay_key).digest()
    if digest is not None and not await pool.fetchval(
        queries.REMEMBER_CALL, integration_id, digest, float(remember_s(intake.settings))
    ):
        raise Replayed("this signed request was accepted before")
    try:
        for record in records:
            await intake.queue.put(record.encode())
    except (CommitFailed, OSError):
        logger.warning("integration %s: a conversion could not be queued", integration_id)
        if digest is not None:
            # The CRM retries the same call; it must not be taken for a replay.
            await pool.execute(queries.FORGET_CALL, integration_id, digest)
        raise intake_service.Unavailable(
            "the conversion could not be queued; retry later"
        ) from None
    return Outcome(accepted=len(records), ignored=ignored, batch=batch)
