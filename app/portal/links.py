"""The managers' links: those of the affiliates in the staff member's scope (by affiliate,
offer and status), and the generator: an affiliate's link on an offer, taken or made by
the links API's own service (app.catalog.links.link_for), its full tracking URL with Copy."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts.sessions import same_token
from app.catalog import affiliates as affiliate_service
from app.catalog import links as link_service
from app.catalog import offers as offer_service
from app.catalog.schemas import LinkOut
from app.errors import AppError
from app.pagination import MAX_LIMIT, PageParams
from app.portal import web
from app.portal.manage import Staff, StaffDep
from app.portal.partner_links import (
    LINK_PARAMS,
    MAX_PARAM,
    link_page_path,
    link_params,
    made_link,
    shown_link,
)

router = APIRouter(prefix="/manage/links", include_in_schema=False)

PAGE_SIZE = 50
STATUSES: tuple[str, ...] = get_args(LinkOut.model_fields["status"].annotation)


async def _links_page(
    request: Request, staff: Staff, *, status: int = 200, **generator: Any
) -> Response:
    """The list and the generator; `generator`: its `made` link, `error` and `form`."""
    pool, scope, q = staff.pool, staff.scope, request.query_params
    affiliate = web.url_id(q.get("affiliate"))
    if q.get("affiliate") and (affiliate is None or not scope.allows(affiliate)):
        return web.not_found(staff.user)
    link_status, after = web.list_position(request, STATUSES)
    filters = {"affiliate": affiliate, "offer": web.url_id(q.get("offer")), "status": link_status}
    listed = await link_service.list_links(
        pool,
        query=link_service.LinkQuery(
            limit=PAGE_SIZE,
            cursor=str(after),
            affiliate_id=affiliate,
            offer_id=filters["offer"],
            status=link_status,
        ),
        public_url=web.state(request).settings.public_url,
        among=scope.affiliates,
    )
    affiliates = await affiliate_service.list_affiliates(
        pool,
        page=PageParams(limit=MAX_LIMIT),
        only_affiliate_id=None,
        status=None,
        among=scope.affiliates,
    )
    offers = await offer_service.list_offers(pool, query=offer_service.OfferQuery(limit=MAX_LIMIT))
    return web.render(
        "manage_links.html",
        {
            "user": staff.user,
            "nav": "links",
            "links": listed.items,
            "next_after": listed.next_cursor,
            "filters": filters,
            "statuses": STATUSES,
            "all_affiliates": affiliates.items,
            "affiliates": [a for a in affiliates.items if a.status != "archived"],
            "affiliate_names": {a.id: a.name for a in affiliates.items},
            # More than a list can hold: an ID field in place of the choice.
            "affiliates_more": affiliates.next_cursor is not None,
            "all_offers": offers.items,
            "offers": [o for o in offers.items if o.status != "archived"],
            "offer_names": {o.id: o.name for o in offers.items},
            "offers_more": offers.next_cursor is not None,
            "params": LINK_PARAMS,
            "max_param": MAX_PARAM,
            "made": generator.get("made"),
            "error": generator.get("error"),
            "form": generator.get("form") or {},
        },
        status=status,
    )


@router.get("")
async def links_page(request: Request, staff: StaffDep) -> Response:
    return await _links_page(request, staff)


@router.post("")
async def generate(request: Request, staff: StaffDep) -> Response:
    """The generator: the affiliate's active link on the offer, or a new one; then its
    page with the sub-IDs in the URL. An affiliate not the staff member's is not found."""
    form = await web.read_form(request)
    if not same_token(form.get("csrf_token"), staff.user.csrf_token):
        return web.csrf_refused()
    params, error = link_params(form)
    affiliate_id = web.url_id(form.get("affiliate_id"))
    offer_id = web.url_id(form.get("offer_id"))
    if affiliate_id is not None and not staff.scope.allows(affiliate_id):
        return web.not_found(staff.user)
    status = 400
    if error is None and affiliate_id is not None and offer_id is not None:
        try:
            link = await made_link(request, affiliate_id=affiliate_id, offer_id=offer_id)
        except AppError as exc:
            error, status = exc.message, exc.status
        else:
            return web.see_other(link_page_path(f"/manage/links/{link.id}", params))
    error = error or "Choose an affiliate and an offer."
    return await _links_page(request, staff, error=error, form=form, status=status)


@router.get("/{link_text}")
async def link_page(request: Request, link_text: str, staff: StaffDep) -> Response:
    """One link's tracking URL, with the sub-IDs of the query filled in."""
    if (shown := await shown_link(request, link_text, staff.scope.require)) is None:
        return web.not_found(staff.user)
    return await _links_page(request, staff, made=shown, form=shown["params"])
