"""The managers' customers: the list (filters, cursor pager) and one customer (binding,
lifetime totals, timeline) with Reassign, by the customers API's own service functions
(app.customers.service). A manager sees the customers bound to their affiliates only
(all of theirs in the list, or one, as the conversions log) and reassigns among them."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.api_params import moment
from app.customers import service
from app.customers.schemas import CustomerQuery, ReassignIn
from app.errors import AppError, BadRequest, NotFound
from app.portal import web
from app.portal.manage import Staff, StaffDep, not_changed, staff_form, staff_of

router = APIRouter(prefix="/manage/customers", include_in_schema=False)

PAGE_SIZE = 50
_DONE = re.compile(r"^reassigned:(\d{1,18})$")
BAD_REASSIGN = "Reassigning needs an affiliate's ID and a reason (500 characters at most)."


def _filters(request: Request, staff: Staff) -> dict[str, Any] | None:
    """The list's filters as given; None when the affiliate is not the staff member's."""
    q, scope = request.query_params, staff.scope
    try:
        affiliate = scope.listed(web.url_id(q.get("affiliate")), bool(q.get("affiliate")))
    except LookupError:
        return None
    return {
        "affiliate": affiliate,
        "offer": web.url_id(q.get("offer")),
        "first_from": (q.get("first_from") or "")[:40],
        "first_to": (q.get("first_to") or "")[:40],
        "external_id": (q.get("external_id") or "").strip()[:255],
        "after": web.url_id(q.get("after")) or 0,
    }


def _query_string(filters: dict[str, Any]) -> str:
    shown = ("affiliate", "offer", "first_from", "first_to", "external_id")
    # Encoded: an ISO time's "+" (or an "&" typed) reaches the next page as it was typed.
    return urlencode([(k, filters[k] or "") for k in shown])


@router.get("")
async def customers_page(request: Request, staff: StaffDep) -> Response:
    filters = _filters(request, staff)
    if filters is None:
        return web.not_found(staff.user)
    rows: list[dict[str, Any]] = []
    error = None
    try:
        rows = await service.list_customers(
            staff.pool,
            query=CustomerQuery.model_validate(
                {
                    "limit": PAGE_SIZE,
                    "cursor": str(filters["after"]),
                    "affiliate": filters["affiliate"],
                    "offer": filters["offer"],
                }
            ).scoped(staff.scope.principal),
            first_from=moment(filters["first_from"], "first_from", end=False),
            first_to=moment(filters["first_to"], "first_to", end=True),
            external_id=filters["external_id"] or None,
        )
    except BadRequest:
        error = "First conversion from and to take dates (YYYY-MM-DD) or ISO date-times."
    return web.render(
        "customers.html",
        {
            "user": staff.user,
            "nav": "customers",
            "rows": rows,
            "filters": filters,
            "query": _query_string(filters),
            "scope": staff.scope,
            "error": error,
            "next_after": rows[-1]["id"] if len(rows) == PAGE_SIZE else None,
        },
        status=400 if error else 200,
    )


async def _customer(request: Request, text: str) -> tuple[Staff, dict[str, Any]]:
    """The customer of the URL with its totals and timeline, if bound to one of the staff
    member's affiliates; any other is answered with the 404 page."""
    staff = await staff_of(request)
    customer_id = web.url_id(text)
    try:
        if customer_id is None:
            raise NotFound("no such customer")
        data = await service.get_customer(staff.pool, customer_id=customer_id, affiliate_id=None)
    except NotFound:
        raise web.PageAnswer(web.not_found(staff.user)) from None
    if not staff.scope.allows(data["affiliate_id"]):
        raise web.PageAnswer(web.not_found(staff.user))
    return staff, data


@router.get("/{customer_text}")
async def customer_page(request: Request, customer_text: str) -> Response:
    staff, data = await _customer(request, customer_text)
    match = _DONE.match(request.query_params.get("done") or "")
    return web.render(
        "customer.html",
        {
            "user": staff.user,
            "nav": "customers",
            "c": data,
            "scope": staff.scope,
            "currencies": sorted(set(data["revenue"]) | set(data["payout"])),
            "notice": f"Customer reassigned to affiliate {match[1]}." if match else None,
        },
    )


@router.post("/{customer_text}/reassign")
async def reassign(request: Request, customer_text: str) -> Response:
    """Bind the customer to another affiliate (with a reason), by the API's own PATCH
    service; a manager only to another of their affiliates."""
    staff, data = await _customer(request, customer_text)
    form = await staff_form(request, staff)
    target = web.url_id(form.get("affiliate_id", "").strip())
    try:
        body = ReassignIn.model_validate({"affiliate_id": target, "reason": form.get("reason", "")})
    except ValidationError:
        return not_changed(staff, BAD_REASSIGN, 400)
    if not staff.scope.allows(body.affiliate_id):
        return web.not_found(staff.user)
    try:
        await service.reassign(
            staff.pool,
            customer_id=data["id"],
            affiliate_id=body.affiliate_id,
            reason=body.reason,
            changed_by=staff.user.actor,
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/customers/{data['id']}?done=reassigned:{body.affiliate_id}")
