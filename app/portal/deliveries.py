"""The delivery log in the console (postbacks and webhooks: kind, status, endpoint and
affiliate filters, tries) with Retry; by the deliveries API's own services. An owner
sees every delivery; a manager their affiliates', all or one."""

from __future__ import annotations

import re
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import AppError, NotFound
from app.portal import web
from app.portal.manage import StaffDep, not_changed, staff_form
from app.portal.webhooks import chosen_affiliate
from app.sender import service as sender_service
from app.sender.deliveries import DeliveryKind, DeliveryQuery, DeliveryStatus

router = APIRouter(prefix="/manage/deliveries", include_in_schema=False)

PAGE_SIZE = 50
KINDS: tuple[str, ...] = get_args(DeliveryKind)
STATUSES: tuple[str, ...] = get_args(DeliveryStatus)
_DONE = re.compile(r"^retried:(\d{1,18})$")


def _one_of(text: str | None, allowed: tuple[str, ...]) -> Any:
    return text if text in allowed else None


@router.get("")
async def deliveries_page(request: Request, staff: StaffDep) -> Response:
    q = request.query_params
    try:
        affiliate = chosen_affiliate(q.get("affiliate"), staff.scope)
    except web.PageAnswer:
        return web.not_found(staff.user)
    filters = {
        "affiliate": affiliate,
        "status": _one_of(q.get("status"), STATUSES),
        "kind": _one_of(q.get("kind"), KINDS),
        "webhook": web.url_id(q.get("webhook")),
    }
    rows: list[Any] = []
    query = DeliveryQuery(
        limit=PAGE_SIZE,
        cursor=str(web.url_id(q.get("after")) or 0),
        affiliate_id=affiliate,
        status=filters["status"],
        kind=filters["kind"],
        webhook_id=filters["webhook"],
    )
    principal = staff.scope.principal
    rows = await sender_service.list_deliveries(staff.pool, query=query.scoped(principal))
    match = _DONE.match(q.get("done") or "")
    kept = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return web.render(
        "deliveries.html",
        {
            "user": staff.user,
            "nav": "deliveries",
            "rows": rows,
            "filters": filters,
            "scope": staff.scope,
            "kinds": KINDS,
            "statuses": STATUSES,
            "next_href": (
                f"/manage/deliveries?{kept}&after={rows[-1]['id']}"
                if len(rows) == PAGE_SIZE
                else None
            ),
            "back": f"/manage/deliveries?{kept}",
            "notice": f"Delivery {match[1]} is due now." if match else None,
        },
    )


@router.post("/{delivery_text}")
async def retry(request: Request, delivery_text: str, staff: StaffDep) -> Response:
    """Make a pending or failed delivery due now (one more try for a failed one)."""
    form = await staff_form(request, staff)
    delivery_id = web.url_id(delivery_text)
    if delivery_id is None or form.get("action") != "retry":
        return web.refused("Unknown delivery or action.")
    key = staff.scope.principal
    try:
        row, _ = await sender_service.get_delivery(staff.pool, delivery_id, key=key)
        if not staff.scope.allows(row["affiliate_id"]):
            raise NotFound("no such delivery")
    except NotFound:
        return web.not_found(staff.user)
    try:
        await sender_service.retry_delivery(staff.pool, delivery_id, key=key)
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    back = form.get("back", "")
    ours = back.startswith("/manage/deliveries?") and "//" not in back and "\\" not in back
    target = back if ours else "/manage/deliveries?"
    return web.see_other(f"{target}&done=retried:{delivery_id}")
