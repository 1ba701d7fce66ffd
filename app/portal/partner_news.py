"""The affiliate's announcements: those addressed to it (the announcements API's own
reads with its scope), and one announcement's body as the sanitized HTML stored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import NotFound
from app.mail import announcements
from app.pagination import PageParams
from app.portal import web
from app.portal.partner_links import AffiliateDep

router = APIRouter(prefix="/partner", include_in_schema=False)

PAGE_SIZE = 50


@router.get("/announcements")
async def announcements_page(request: Request, me: AffiliateDep) -> Response:
    after = web.url_id(request.query_params.get("after"))
    page = await announcements.list_announcements(
        me.pool,
        page=PageParams(limit=PAGE_SIZE, cursor=str(after) if after else None),
        affiliate_id=me.principal.only_affiliate_id,
    )
    return web.render(
        "partner_announcements.html",
        {
            "user": me.user,
            "nav": "announcements",
            "items": page.items,
            "next_href": page.next_cursor and f"/partner/announcements?after={page.next_cursor}",
        },
    )


@router.get("/announcements/{announcement_id}")
async def announcement_page(request: Request, announcement_id: str, me: AffiliateDep) -> Response:
    found = web.url_id(announcement_id)
    try:
        if found is None:
            raise NotFound("no such announcement")
        item = await announcements.get_announcement(
            me.pool, announcement_id=found, affiliate_id=me.principal.only_affiliate_id
        )
    except NotFound:  # none, or not addressed to this affiliate: the same answer
        return web.not_found(me.user)
    return web.render(
        "partner_announcement.html", {"user": me.user, "nav": "announcements", "item": item}
    )
