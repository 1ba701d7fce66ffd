"""/api/v1/webhooks: signed event notifications (README, Webhooks).

An admin key manages every endpoint; an affiliate key only its own (`affiliate_id` is
its own, whatever the body says), which hear of its own events only.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api_params import IdPath
from app.deps import PoolDep, ScopedKey, SealerDep, SettingsDep
from app.pagination import (
    AffiliatePage,
    Filters,
    Page,
)
from app.webhooks import service
from app.webhooks.schemas import TestSent, WebhookIn, WebhookOut, WebhookPatch, WebhookWithSecret

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("", status_code=201, response_model=WebhookWithSecret)
async def create_webhook(
    body: WebhookIn, pool: PoolDep, key: ScopedKey, settings: SettingsDep, sealer: SealerDep
) -> WebhookWithSecret:
    """A new endpoint; its signing `secret` is in this response only (stored sealed)."""
    return await service.create_webhook(
        pool,
        body=body,
        key=key,
        allowed_networks=settings.sender_allowed_networks,
        sealer=sealer,
    )


@router.get("", response_model=Page[WebhookOut])
async def list_webhooks(
    pool: PoolDep, key: ScopedKey, page: Filters[AffiliatePage]
) -> Page[WebhookOut]:
    """Endpoints in ID order; `affiliate_id` narrows an admin's list to one affiliate's."""
    return await service.list_webhooks(pool, key=key, page=page)


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: IdPath, pool: PoolDep, key: ScopedKey) -> WebhookOut:
    return await service.get_webhook(pool, webhook_id=webhook_id, key=key)


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: IdPath, body: WebhookPatch, pool: PoolDep, key: ScopedKey, settings: SettingsDep
) -> WebhookOut:
    """Change the URL (pending tries follow it), events, description or `status`."""
    async with pool.acquire() as conn:
        return await service.update_webhook(
            conn,
            webhook_id=webhook_id,
            body=body,
            key=key,
            allowed_networks=settings.sender_allowed_networks,
        )


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: IdPath, pool: PoolDep, key: ScopedKey) -> Response:
    async with pool.acquire() as conn:
        await service.delete_webhook(conn, webhook_id=webhook_id, key=key)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookWithSecret)
async def rotate_secret(
    webhook_id: IdPath, pool: PoolDep, key: ScopedKey, sealer: SealerDep
) -> WebhookWithSecret:
    """A new signing secret, in this response only; for 24 hours, tries are signed with
    the previous one too (two signatures in `webhook-signature`)."""
    return await service.rotate_secret(pool, webhook_id=webhook_id, key=key, sealer=sealer)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=TestSent,
    responses={409: {"description": "the endpoint is disabled"}},
)
async def send_test(webhook_id: IdPath, pool: PoolDep, key: ScopedKey) -> TestSent:
    """Send a `webhook.test` event now (the sender's next poll, within a second)."""
    return await service.send_test(pool, webhook_id=webhook_id, key=key)
