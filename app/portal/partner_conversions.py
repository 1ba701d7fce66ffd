"""The affiliate's conversions: its own, newest last, with its payout and never the
advertiser's revenue (the API's affiliate view, AffiliateConversionOut, is what reaches
the page)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.attribution import service as attribution
from app.attribution.schemas import AffiliateConversionOut, fields_of
from app.pagination import PageParams
from app.portal import web
from app.portal.partner_links import AffiliateDep

router = APIRouter(prefix="/partner", include_in_schema=False)

PAGE_SIZE = 50
DAYS = 90
STATUSES = ("approved", "pending", "rejected")


@router.get("/conversions")
async def conversions_page(request: Request, me: AffiliateDep) -> Response:
    q = request.query_params
    status = q.get("status") if q.get("status") in STATUSES else None
    after = web.url_id(q.get("after")) or 0
    rows = await attribution.list_conversions(
        me.pool,
        page=PageParams(limit=PAGE_SIZE + 1, cursor=str(after)),
        start=datetime.now(UTC) - timedelta(days=DAYS),
        end=None,
        affiliate_ids=me.principal.scope(None),
        offer_id=None,
        status=status,
        event=None,
    )
    shown = [AffiliateConversionOut.model_validate(fields_of(r)) for r in rows[:PAGE_SIZE]]
    return web.render(
        "partner_conversions.html",
        {
            "user": me.user,
            "nav": "conversions",
            "rows": shown,
            "status": status,
            "statuses": STATUSES,
            "days": DAYS,
            "next_after": shown[-1].id if len(rows) > PAGE_SIZE else None,
        },
    )
