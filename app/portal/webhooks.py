"""Webhook endpoints in the console: the list, a new endpoint (its secret shown once),
a new secret, enable or disable, a test event; by the webhooks API's own services. An
owner sees every endpoint; a manager those of their affiliates, all of them or one
(the program's own endpoints are the owners')."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.errors import AppError, NotFound
from app.pagination import AffiliatePage
from app.portal import web, webhook_actions
from app.portal.manage import Staff, StaffDep, not_changed, staff_fields
from app.portal.scope import Scope
from app.webhooks import service
from app.webhooks.events import EVENT_TYPES
from app.webhooks.schemas import WebhookIn, WebhookWithSecret

router = APIRouter(prefix="/manage/webhooks", include_in_schema=False)

SHOWN = 200
ACTIONS = ("enable", "disable", "rotate", "test")
_DONE = re.compile(r"^(enabled|disabled|tested):(\d{1,18})(?::(\d{1,18}))?$")
NEEDED = "An http(s) URL and at least one event are needed (and, for a manager, an affiliate)."


def chosen_affiliate(text: str | None, scope: Scope) -> int | None:
    """The affiliate a list is narrowed to: any or none for an owner; for a manager one of
    theirs, or all of theirs (None; the list's query takes them by `Principal.scope`).
    Another's, or an ID that is not one, raises a 404 page."""
    wanted = web.url_id(text)
    if text and (wanted is None or not scope.allows(wanted)):
        raise web.PageAnswer(web.not_found(None))
    return wanted


def _notice(done: str | None) -> str | None:
    match = _DONE.match(done or "")
    if match is None:
        return None
    if match[1] == "tested":
        return f"Test event sent to endpoint {match[2]} (delivery {match[3]})."
    return f"Endpoint {match[2]} {match[1]}."


async def _page(
    request: Request, staff: Staff, *, made: WebhookWithSecret | None = None, how: str = ""
) -> Response:
    try:
        affiliate = chosen_affiliate(request.query_params.get("affiliate"), staff.scope)
    except web.PageAnswer:
        return web.not_found(staff.user)
    if made is not None:
        affiliate = made.affiliate_id if staff.scope.affiliates is not None else affiliate
    rows: list[Any] = []
    more = False
    page = AffiliatePage(limit=SHOWN, affiliate_id=affiliate)
    listed = await service.list_webhooks(staff.pool, key=staff.scope.principal, page=page)
    rows, more = listed.items, listed.next_cursor is not None
    return web.render(
        "webhooks.html",
        {
            "user": staff.user,
            "nav": "webhooks",
            "rows": rows,
            "more": more,
            "affiliate": affiliate,
            "scope": staff.scope,
            "events": EVENT_TYPES,
            "made": made,
            "how": how,
            "notice": _notice(request.query_params.get("done")),
        },
        status=201 if how == "made" else 200,
    )


@router.get("")
async def webhooks_page(request: Request, staff: StaffDep) -> Response:
    return await _page(request, staff)


@router.post("")
async def create(request: Request, staff: StaffDep) -> Response:
    """A new endpoint; the page it answers with is the only place its secret is shown."""
    fields = await staff_fields(request, staff)
    one = {k: v[0].strip() for k, v in fields.items()}
    affiliate_id = web.url_id(one.get("affiliate_id"))
    if one.get("affiliate_id") and affiliate_id is None:
        return not_changed(staff, NEEDED, 400)
    if not staff.scope.allows(affiliate_id):  # a manager's endpoint is an affiliate's
        return web.not_found(staff.user) if affiliate_id else not_changed(staff, NEEDED, 400)
    try:
        body = WebhookIn(
            url=one.get("url", ""),
            events=fields.get("events", []),  # type: ignore[arg-type]
            description=one.get("description", ""),
            affiliate_id=affiliate_id,
        )
    except ValidationError:
        return not_changed(staff, NEEDED, 400)
    state = web.state(request)
    try:
        made = await service.create_webhook(
            staff.pool,
            body=body,
            key=staff.scope.principal,
            allowed_networks=state.settings.sender_allowed_networks,
            sealer=state.sealer,
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return await _page(request, staff, made=made, how="made")


@router.post("/{webhook_text}")
async def change(request: Request, webhook_text: str, staff: StaffDep) -> Response:
    """Enable, disable, a new secret (shown once) or a test event, for one endpoint."""
    fields = await staff_fields(request, staff)
    action = fields.get("action", [""])[0]
    webhook_id = web.url_id(webhook_text)
    if webhook_id is None or action not in ACTIONS:
        return web.refused("Unknown endpoint or action.")
    key, state = staff.scope.principal, web.state(request)
    try:
        current = await service.get_webhook(staff.pool, webhook_id=webhook_id, key=key)
        if not staff.scope.allows(current.affiliate_id):
            raise NotFound("no such endpoint")
    except NotFound:
        return web.not_found(staff.user)
    where = f"/manage/webhooks?affiliate={current.affiliate_id or ''}"
    try:
        done = await webhook_actions.act(
            staff.pool, state, webhook_id=webhook_id, action=action, key=key
        )
        if done.made is not None:
            return await _page(request, staff, made=done.made, how="rotated")
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    if done.delivery_id is not None:
        return web.see_other(f"{where}&done=tested:{webhook_id}:{done.delivery_id}")
    return web.see_other(f"{where}&done={action}d:{webhook_id}")
