"""The affiliate's money: its balance per currency, its ledger, its payouts and their
statements, by the ledger and payouts APIs' own services in the affiliate's scope."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import NotFound
from app.ledger import service as ledger_service
from app.ledger.schemas import LedgerQuery
from app.payouts import service as payout_service
from app.payouts import statement
from app.payouts.schemas import PayoutQuery
from app.portal import web
from app.portal.partner_links import AffiliateDep

router = APIRouter(prefix="/partner", include_in_schema=False)

PAGE_SIZE = 50


def _cursor(text: str | None) -> str | None:
    after = web.url_id(text)
    return str(after) if after else None


@router.get("/balance")
async def balance_page(request: Request, me: AffiliateDep) -> Response:
    q = request.query_params
    settings = web.state(request).settings
    affiliate_id = me.principal.affiliate_id or 0
    balance = await ledger_service.balance(
        me.pool, affiliate_id=affiliate_id, default_threshold=settings.payout_threshold
    )
    entries_query = LedgerQuery(limit=PAGE_SIZE, cursor=_cursor(q.get("after"))).scoped(
        me.principal
    )
    entries = entries_query.of_items(
        await ledger_service.list_entries(me.pool, query=entries_query, start=None, end=None)
    )
    payouts_query = PayoutQuery(limit=PAGE_SIZE, cursor=_cursor(q.get("payouts_after"))).scoped(
        me.principal
    )
    payouts = payouts_query.of_items(
        await payout_service.list_payouts(me.pool, query=payouts_query)
    )

    def more(name: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        kept = {k: q[k] for k in ("after", "payouts_after") if q.get(k)}
        return "/partner/balance?" + urlencode({**kept, name: cursor})

    return web.render(
        "partner_balance.html",
        {
            "user": me.user,
            "nav": "balance",
            "balances": balance.balances,
            "entries": entries.items,
            "payouts": payouts.items,
            "next_entries": more("after", entries.next_cursor),
            "next_payouts": more("payouts_after", payouts.next_cursor),
        },
    )


@router.get("/payouts/{payout_id}/statement.pdf")
async def statement_pdf(request: Request, payout_id: str, me: AffiliateDep) -> Response:
    """The payout's statement, the API's own document (another affiliate's is a 404)."""
    found = web.url_id(payout_id)
    resources = web.state(request)
    settings = resources.settings
    try:
        if found is None:
            raise NotFound("no such payout")
        pdf = await statement.pdf(
            me.pool,
            payout_id=found,
            only_affiliate_id=me.principal.only_affiliate_id,
            program_name=settings.program_name,
            program_address=settings.program_address,
            font_path=settings.statement_font,
            redis=resources.redis,
        )
    except NotFound:
        return web.not_found(me.user)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="statement-{found}.pdf"',
            "Cache-Control": "no-store",
        },
    )
