"""The affiliates' own webhook endpoints (/partner/webhooks): the list, a new endpoint (its
secret shown once), enable or disable, a new secret (shown once), a test event, delete,
and the deliveries to them with Retry; by the webhooks and deliveries APIs' own services
with the affiliate's principal, so it hears of its own events only, without revenue, and
another affiliate's endpoint or delivery is a 404."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.accounts.sessions import same_token
from app.errors import AppError, NotFound, first_problem
from app.pagination import AffiliatePage
from app.portal import web, webhook_actions
from app.portal.partner_links import Affiliate, AffiliateDep
from app.sender import service as sender_service
from app.sender.deliveries import DeliveryQuery
from app.webhooks import service
from app.webhooks.events import EVENT_TYPES
from app.webhooks.schemas import WebhookIn, WebhookWithSecret

router = APIRouter(prefix="/partner/webhooks", include_in_schema=False)

HOME = "/partner/webhooks"
# An affiliate has at most 10 endpoints (MAX_AFFILIATE_ENDPOINTS): one page holds them.
SHOWN = 50
DELIVERIES_SHOWN = 25
ACTIONS = ("enable", "disable", "rotate", "test", "delete")
_DONE = re.compile(r"^(enabled|disabled|tested|deleted|retried):(\d{1,18})(?::(\d{1,18}))?$")


def _notice(done: str | None) -> str | None:
    match = _DONE.match(done or "")
    if match is None:
        return None
    if match[1] == "tested":
        return f"Test event sent to endpoint {match[2]} (delivery {match[3]})."
    if match[1] == "retried":
        return f"Delivery {match[2]} is due now."
    return f"Endpoint {match[2]} {match[1]}."


async def _fields(request: Request, me: Affiliate) -> dict[str, list[str]]:
    """The posted form, every value of each field; without the session's token, a 403."""
    fields = await web.read_fields(request)
    if not same_token(fields.get("csrf_token", [""])[0], me.user.csrf_token):
        raise web.PageAnswer(web.csrf_refused())
    return fields


def _one(fields: dict[str, list[str]], name: str) -> str:
    return fields.get(name, [""])[0].strip()


def _not_changed(me: Affiliate, message: str, status: int) -> Response:
    body = {"title": "Not changed", "message": message, "user": me.user}
    return web.render("message.html", body, status=status)


async def _page(
    request: Request,
    me: Affiliate,
    *,
    made: WebhookWithSecret | None = None,
    how: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    q = request.query_params
    key = me.principal
    endpoint = web.url_id(q.get("webhook"))
    if q.get("webhook"):
        try:
            if endpoint is None:
                raise NotFound("no such endpoint")
            await service.get_webhook(me.pool, webhook_id=endpoint, key=key)
        except NotFound:
            return web.not_found(me.user)
    listed = await service.list_webhooks(me.pool, key=key, page=AffiliatePage(limit=SHOWN))
    query = DeliveryQuery(
        limit=DELIVERIES_SHOWN,
        cursor=str(web.url_id(q.get("after")) or 0),
        kind="webhook",
        webhook_id=endpoint,
    ).scoped(key)
    deliveries = await sender_service.list_deliveries(me.pool, query=query)
    kept = f"{HOME}?webhook={endpoint}" if endpoint else f"{HOME}?"
    context: dict[str, Any] = {
        "user": me.user,
        "nav": "webhooks",
        "rows": listed.items,
        "events": EVENT_TYPES,
        "made": made,
        "how": how,
        "error": error,
        "endpoint": endpoint,
        "deliveries": deliveries,
        "back": kept,
        "next_href": (
            f"{kept}&after={deliveries[-1]['id']}#deliveries"
            if len(deliveries) == DELIVERIES_SHOWN
            else None
        ),
        "notice": _notice(q.get("done")),
    }
    return web.render("partner_webhooks.html", context, status=status)


@router.get("")
async def webhooks_page(request: Request, me: AffiliateDep) -> Response:
    return await _page(request, me)


@router.post("")
async def create(request: Request, me: AffiliateDep) -> Response:
    """A new endpoint of the affiliate's; the page it answers with is the only place its
    secret is shown."""
    fields = await _fields(request, me)
    state = web.state(request)
    try:
        body = WebhookIn.model_validate(
            {
                "url": _one(fields, "url"),
                "events": fields.get("events", []),
                "description": _one(fields, "description"),
            }
        )
        made = await service.create_webhook(
            me.pool,
            body=body,
            key=me.principal,
            allowed_networks=state.settings.sender_allowed_networks,
            sealer=state.sealer,
        )
    except ValidationError as exc:
        return await _page(request, me, error=first_problem(exc), status=400)
    except AppError as exc:
        return await _page(request, me, error=exc.message, status=exc.status)
    return await _page(request, me, made=made, how="made", status=201)


@router.post("/deliveries/{delivery_text}")
async def retry(request: Request, delivery_text: str, me: AffiliateDep) -> Response:
    """Make a pending or failed delivery to one of the affiliate's endpoints due now."""
    fields = await _fields(request, me)
    delivery_id = web.url_id(delivery_text)
    if delivery_id is None or _one(fields, "action") != "retry":
        return web.refused("Unknown delivery or action.")
    try:
        await sender_service.retry_delivery(me.pool, delivery_id, key=me.principal)
    except NotFound:
        return web.not_found(me.user)
    except AppError as exc:
        return _not_changed(me, exc.message, exc.status)
    back = _one(fields, "back")
    ours = back.startswith(f"{HOME}?") and "//" not in back and "\\" not in back
    return web.see_other(f"{back if ours else HOME + '?'}&done=retried:{delivery_id}")


@router.post("/{webhook_text}")
async def change(request: Request, webhook_text: str, me: AffiliateDep) -> Response:
    """Enable, disable, a new secret (shown once), a test event or delete, for one of the
    affiliate's endpoints."""
    fields = await _fields(request, me)
    action = _one(fields, "action")
    webhook_id = web.url_id(webhook_text)
    if webhook_id is None or action not in ACTIONS:
        return web.refused("Unknown endpoint or action.")
    key, state = me.principal, web.state(request)
    try:
        await service.get_webhook(me.pool, webhook_id=webhook_id, key=key)
    except NotFound:
        return web.not_found(me.user)
    try:
        done = await webhook_actions.act(
            me.pool, state, webhook_id=webhook_id, action=action, key=key
        )
        if done.made is not None:
            return await _page(request, me, made=done.made, how="rotated")
    except AppError as exc:
        return _not_changed(me, exc.message, exc.status)
    if done.delivery_id is not None:
        return web.see_other(f"{HOME}?done=tested:{webhook_id}:{done.delivery_id}")
    return web.see_other(f"{HOME}?done={action}d:{webhook_id}")
