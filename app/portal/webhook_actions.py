"""One action on a webhook endpoint from a portal form (the managers' and the affiliates'
screens alike), by the webhooks service with the signed-in user's principal."""

from __future__ import annotations

from dataclasses import dataclass

from app.db import Pool
from app.keys.service import Principal
from app.state import AppState
from app.webhooks import service
from app.webhooks.schemas import WebhookPatch, WebhookWithSecret


@dataclass(frozen=True, slots=True)
class Done:
    made: WebhookWithSecret | None = None  # "rotate": the new secret, to show once
    delivery_id: int | None = None  # "test": the test event's delivery


async def act(pool: Pool, state: AppState, *, webhook_id: int, action: str, key: Principal) -> Done:
    """`enable`, `disable`, `rotate`, `test` or `delete`; the service's AppError as it
    raises (the caller has checked the action is one its page offers)."""
    if action == "rotate":
        made = await service.rotate_secret(
            pool, webhook_id=webhook_id, key=key, sealer=state.sealer
        )
        return Done(made=made)
    if action == "test":
        sent = await service.send_test(pool, webhook_id=webhook_id, key=key)
        return Done(delivery_id=sent.delivery_id)
    async with pool.acquire() as conn:
        if action == "delete":
            await service.delete_webhook(conn, webhook_id=webhook_id, key=key)
        else:
            await service.update_webhook(
                conn,
                webhook_id=webhook_id,
                body=WebhookPatch(status="enabled" if action == "enable" else "disabled"),
                key=key,
                allowed_networks=state.settings.sender_allowed_networks,
            )
    return Done()
