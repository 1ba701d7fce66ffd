"""Webhook endpoints behind /api/v1/webhooks: each scoped to its key (an affiliate's key
manages its own endpoints only), URLs through the sender's SSRF guard, the secret shown
on create and rotate only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from app import sealing
from app.catalog import affiliates as affiliate_service
from app.catalog import patch
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, Forbidden, NotFound
from app.keys.service import Principal
from app.pagination import AffiliatePage, Page
from app.sealing import Sealer
from app.sender import service as sender_service
from app.signing import new_webhook_secret
from app.webhooks import events, queries, sealed
from app.webhooks.schemas import TestSent, WebhookIn, WebhookOut, WebhookPatch, WebhookWithSecret

DISABLED_BY_HAND = "disabled through the API"
ROTATION_OVERLAP = timedelta(hours=24)
# Each endpoint is a delivery per event: an affiliate may not multiply them at will.
MAX_AFFILIATE_ENDPOINTS = 10


async def _check_url(url: str, allowed_networks: Sequence[str]) -> None:
    try:
        await sender_service.check_postback_url(url, allowed_networks)
    except sender_service.RefusedAddress as exc:
        raise BadRequest(f"url: {exc}", code="invalid_request") from None


def _out(row: asyncpg.Record) -> WebhookOut:
    return WebhookOut(**dict(row))


async def _visible(conn: Executor, webhook_id: int, key: Principal, *, lock: bool = False) -> Any:
    """The endpoint, if this key may see it; another affiliate's is reported missing."""
    row = await conn.fetchrow(queries.GET_FOR_UPDATE if lock else queries.GET, webhook_id)
    if row is None or not key.allows(row["affiliate_id"]):
        raise NotFound(f"webhook {webhook_id} does not exist")
    return row


async def create_webhook(
    conn: Executor,
    *,
    body: WebhookIn,
    key: Principal,
    allowed_networks: Sequence[str],
    sealer: Sealer | None,
) -> WebhookWithSecret:
    affiliate_id = body.affiliate_id
    if key.is_manager:
        if affiliate_id is None:
            key.require_admin()  # the program's own endpoints are the owners'
        key.require_affiliate_access(affiliate_id)
    if not key.is_admin:
        if affiliate_id is not None and affiliate_id != key.affiliate_id:
            raise Forbidden("an affiliate key manages its own webhooks only")
        affiliate_id = key.affiliate_id
    elif (
        affiliate_id is not None
        and await affiliate_service.affiliate_status(conn, affiliate_id=affiliate_id) is None
    ):
        raise Conflict(f"affiliate {affiliate_id} does not exist", code="invalid_reference")
    await _check_url(body.url, allowed_networks)
    if not key.is_admin and (
        await conn.fetchval(queries.COUNT_OF_AFFILIATE, affiliate_id) >= MAX_AFFILIATE_ENDPOINTS
    ):
        raise Conflict(
            f"an affiliate has at most {MAX_AFFILIATE_ENDPOINTS} webhook endpoints",
            code="too_many_webhooks",
        )
    secret = new_webhook_secret()
    sealing.require(sealer)  # before the id is taken
    webhook_id = await conn.fetchval(queries.NEXT_ID)
    row = await conn.fetchrow(
        queries.INSERT,
        webhook_id,
        body.url,
        body.events,
        body.description,
        affiliate_id,
        sealed.seal(sealer, webhook_id, secret),
    )
    assert row is not None
    return WebhookWithSecret(**dict(row), secret=secret)


async def list_webhooks(conn: Executor, *, key: Principal, page: AffiliatePage) -> Page[WebhookOut]:
    """A page of endpoints: an affiliate key's own; an admin's all, or one affiliate's
    (`page.affiliate_id`)."""
    rows = await conn.fetch(*queries.LIST.bind(*page.scoped(key).arguments()))
    return page.of([_out(r) for r in rows], rows)


async def get_webhook(conn: Executor, *, webhook_id: int, key: Principal) -> WebhookOut:
    return _out(await _visible(conn, webhook_id, key))


async def update_webhook(
    conn: Connection,
    *,
    webhook_id: int,
    body: WebhookPatch,
    key: Principal,
    allowed_networks: Sequence[str],
) -> WebhookOut:
    fields = {name: getattr(body, name) for name in body.model_fields_set}
    if any(value is None for value in fields.values()):
        raise BadRequest("a webhook field may not be null", code="invalid_request")
    if "url" in fields:
        await _check_url(fields["url"], allowed_networks)
    async with conn.transaction():
        current = await _visible(conn, webhook_id, key, lock=True)
        columns = {k: v for k, v in fields.items() if k in ("url", "events", "description")}
        if columns:
            sql = patch.update_sql("webhooks", list(columns), queries.COLUMNS)
            await conn.execute(sql, webhook_id, *columns.values())
        if "url" in columns and columns["url"] != current["url"]:
            await conn.execute(queries.MOVE_PENDING, webhook_id, columns["url"])
        status = fields.get("status")
        if status is not None and status != current["status"]:
            await conn.execute(queries.SET_STATUS, webhook_id, status, DISABLED_BY_HAND)
            if status == "disabled":
                await conn.execute(
                    queries.FAIL_PENDING, webhook_id, f"endpoint disabled: {DISABLED_BY_HAND}"
                )
        row = await conn.fetchrow(queries.GET, webhook_id)
        assert row is not None  # locked above
        return _out(row)


async def delete_webhook(conn: Connection, *, webhook_id: int, key: Principal) -> None:
    """Remove the endpoint; its deliveries stay in the log (webhook_id null), the pending
    ones failed."""
    async with conn.transaction():
        await _visible(conn, webhook_id, key, lock=True)
        await conn.execute(queries.FAIL_PENDING, webhook_id, "endpoint deleted")
        await conn.execute(queries.DELETE, webhook_id)


async def rotate_secret(
    conn: Executor, *, webhook_id: int, key: Principal, sealer: Sealer | None
) -> WebhookWithSecret:
    """A new secret: tries from now on are signed with it (pending ones too) and, for
    ROTATION_OVERLAP, with the previous one as well."""
    await _visible(conn, webhook_id, key)
    secret = new_webhook_secret()
    stored = sealed.seal(sealer, webhook_id, secret)
    row = await conn.fetchrow(queries.ROTATE, webhook_id, stored, ROTATION_OVERLAP)
    if row is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return WebhookWithSecret(**dict(row), secret=secret)


async def send_test(conn: Executor, *, webhook_id: int, key: Principal) -> TestSent:
    """A `webhook.test` event to this endpoint only, due now."""
    row = await _visible(conn, webhook_id, key)
    if row["status"] != "enabled":
        raise Conflict(f"webhook {webhook_id} is disabled", code="webhook_disabled")
    event_id = events.new_event_id()
    data = {"webhook_id": webhook_id, "message": "a test event from the tracker"}
    body = events.payload(event_id, events.TEST, datetime.now(UTC), data)
    delivery_id = await conn.fetchval(queries.INSERT_ONE, webhook_id, event_id, events.TEST, body)
    if delivery_id is None:
        raise NotFound(f"webhook {webhook_id} does not exist")
    return TestSent(delivery_id=delivery_id, event_id=event_id)
