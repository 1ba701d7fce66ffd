"""/api/v1/payout-runs and /api/v1/payouts.

Admins run, export, pay and fail payouts; an affiliate key sees its own payouts and
statements only (another's is a 404) and may request one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from app.api_params import IdPath
from app.deps import AdminKey, AppStateDep, CurrentKey, PoolDep, SettingsDep
from app.errors import Forbidden
from app.pagination import (
    Filters,
    Page,
)
from app.payouts import exports, service, statement
from app.payouts.schemas import FailedIn, PaidIn, PayoutOut, PayoutQuery, RequestIn, RunIn, RunOut

router = APIRouter(tags=["payouts"])


@router.post("/payout-runs", status_code=201, response_model=RunOut)
async def create_run(
    body: RunIn, pool: PoolDep, settings: SettingsDep, principal: AdminKey
) -> RunOut:
    """One payout per affiliate whose available balance, net of clawbacks, reaches its
    threshold. A second run in the same currency while one is in progress: 409."""
    return await service.create_run(
        pool,
        body=body,
        default_threshold=settings.payout_threshold,
        created_by=principal.admin_actor,
    )


@router.get("/payout-runs/{run_id}", response_model=RunOut)
async def get_run(run_id: IdPath, pool: PoolDep, _: AdminKey) -> RunOut:
    return await service.get_run(pool, run_id=run_id)


@router.get(
    "/payout-runs/{run_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_run(
    run_id: IdPath,
    pool: PoolDep,
    settings: SettingsDep,
    resources: AppStateDep,
    _: AdminKey,
    format: exports.Format = "csv",
    part: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """A batch payment file (see README, Payouts). Headers: X-Export-Parts (files this
    export takes), X-Payouts-Skipped (payouts without details for this method)."""
    await service.get_run(pool, run_id=run_id)
    made = await exports.export_run(
        pool,
        run_id=run_id,
        fmt=format,
        part=part,
        program_name=settings.program_name,
        cipher=resources.payment_cipher,
    )
    return Response(
        made.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{made.filename}"',
            "X-Export-Parts": str(made.parts),
            "X-Payouts-Skipped": ",".join(map(str, made.skipped)),
        },
    )


@router.get("/payouts", response_model=Page[PayoutOut])
async def list_payouts(
    pool: PoolDep, principal: CurrentKey, query: Filters[PayoutQuery]
) -> Page[PayoutOut]:
    return query.of_items(await service.list_payouts(pool, query=query.scoped(principal)))


@router.post("/payouts/request", status_code=201, response_model=PayoutOut)
async def request_payout(
    body: RequestIn, pool: PoolDep, settings: SettingsDep, principal: CurrentKey
) -> PayoutOut:
    """An affiliate key asks for its payable balance in a currency (409 below_threshold
    under its threshold); the payout is `requested` until an admin marks it."""
    if principal.affiliate_id is None:
        raise Forbidden("this needs an affiliate key (admins make payout runs)")
    return await service.request_payout(
        pool,
        affiliate_id=principal.affiliate_id,
        currency=body.currency,
        default_threshold=settings.payout_threshold,
    )


# `:int`: /payouts/request is no payout ID (its Allow header names POST only).
@router.get("/payouts/{payout_id:int}", response_model=PayoutOut)
async def get_payout(payout_id: IdPath, pool: PoolDep, principal: CurrentKey) -> PayoutOut:
    return await service.get_payout(pool, payout_id=payout_id, only_affiliate_id=_only(principal))


@router.post("/payouts/{payout_id:int}/paid", response_model=PayoutOut)
async def mark_paid(
    payout_id: IdPath, body: PaidIn, pool: PoolDep, principal: AdminKey
) -> PayoutOut:
    return await service.mark_paid(
        pool, payout_id=payout_id, reference=body.reference, by=principal.admin_actor
    )


@router.post("/payouts/{payout_id:int}/failed", response_model=PayoutOut)
async def mark_failed(
    payout_id: IdPath, body: FailedIn, pool: PoolDep, principal: AdminKey
) -> PayoutOut:
    """The money returns to available (a new ledger entry); the entries may be paid again."""
    return await service.mark_failed(
        pool, payout_id=payout_id, reason=body.reason, by=principal.admin_actor
    )


@router.get(
    "/payouts/{payout_id:int}/statement.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string"}}}}},
)
async def get_statement(
    payout_id: IdPath, pool: PoolDep, settings: SettingsDep, principal: CurrentKey
) -> Response:
    payout = await service.get_payout(pool, payout_id=payout_id, only_affiliate_id=_only(principal))
    loaded = await statement.load(
        pool,
        payout=payout,
        program_name=settings.program_name,
        program_address=settings.program_address,
    )
    # fpdf2 is synchronous: a long statement must not hold up the event loop.
    pdf = await run_in_threadpool(statement.render, loaded, font_path=settings.statement_font)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="statement-{payout_id}.pdf"'},
    )


def _only(principal: CurrentKey) -> int | None:
    return None if principal.is_admin else principal.affiliate_id
