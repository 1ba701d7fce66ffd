"""The affiliates' portal: their overview (earnings, links, a chart), their own only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.catalog import links as link_service
from app.errors import Forbidden
from app.portal import overview, web
from app.portal.manage import _chart_json

router = APIRouter(prefix="/partner", include_in_schema=False)


@router.get("")
async def overview_page(request: Request) -> Response:
    user = await web.signed_in(request)
    if user is None:
        return web.see_other("/")
    if user.is_staff:
        return web.see_other("/manage")
    asked = request.query_params.get("affiliate")
    if asked is not None and asked != str(user.affiliate_id):
        # Another affiliate's ID typed into the URL: nothing of theirs, not even whether
        # it exists.
        return web.not_found(user)
    try:
        principal = user.principal()
    except Forbidden as exc:  # an inactive affiliate: say so (signing out still works)
        return web.render(
            "message.html",
            {"title": "Account not active", "message": exc.message, "user": user},
            status=403,
        )
    resources = web.state(request)
    data = await overview.overview(resources.pool, principal, zone=user.time_zone, affiliates=None)
    links = await link_service.list_links(
        resources.pool,
        query=link_service.LinkQuery(limit=20, affiliate_id=user.affiliate_id, status="active"),
        public_url=resources.settings.public_url,
    )
    return web.render(
        "partner_overview.html",
        {
            "user": user,
            "nav": "overview",
            "data": data,
            "chart_json": _chart_json(data["chart"]),
            "links": links.items,
        },
    )
