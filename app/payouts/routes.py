"""/api/v1/payout-runs and /api/v1/payouts.

Admins run, export, pay and fail payouts; an affiliate key sees its own payouts and
statements only (another's is a 404) and may request one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from app.api_params import IdPath
from app.deps import (
    AdminActor,
    AdminKey,
    AppStateDep,
    CurrentKey,
    PoolDep,
    RedisDep,
    ScopedKey,
    SettingsDep,
)
from app.errors import Forbidden
from app.pagination import (
    Filters,
    Page,
)
from app.payouts import exports, service, statement
from app.payouts.schemas import (
    FailedIn,
    PaidIn,
    PayoutOut,
    PayoutQuery,
    PreviewOut,
    RequestIn,
    RunIn,
    RunOut,
    RunQuery,
)

router = APIRouter(tags=["payouts"])


@router.post("/payout-runs", status_code=201, response_model=RunOut)
async def create_run(
    body: RunIn, pool: PoolDep, settings: SettingsDep, created_by: AdminActor
) -> RunOut:
    """One payout per affiliate whose available balance, net of clawbacks, reaches its
    threshold. A second run in the same currency while one is in progress: 409."""
    return await service.create_run(
        pool,
        body=body,
        default_threshold=settings.payout_threshold,
        created_by=created_by,
    )


@router.get("/payout-runs", response_model=Page[RunOut])
async def list_runs(pool: PoolDep, _: AdminKey, query: Filters[RunQuery]) -> Page[RunOut]:
    """Runs newest first, with their totals per status."""
    return query.of_items(await service.list_runs(pool, query=query))


@router.post("/payout-runs/preview", response_model=PreviewOut)
async def preview_run(
    body: RunIn, pool: PoolDep, settings: SettingsDep, resources: AppStateDep, _: AdminKey
) -> PreviewOut:
    """What a run with this body would pay now (by the run's own selection), each
    affiliate with its payment method; nothing is written."""
    return await service.preview_run(
        pool,
        body=body,
        default_threshold=settings.payout_threshold,
        cipher=resources.payment_cipher,
    )


@router.get("/payout-runs/{run_id:int}", response_model=RunOut)
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
    return Response(made.content, media_type=exports.MEDIA_TYPE, headers=made.headers())


@router.get("/payouts", response_model=Page[PayoutOut])
async def list_payouts(
    pool: PoolDep, principal: ScopedKey, query: Filters[PayoutQuery]
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
async def get_payout(payout_id: IdPath, pool: PoolDep, principal: ScopedKey) -> PayoutOut:
    payout = await service.get_payout(
        pool, payout_id=payout_id, only_affiliate_id=principal.only_affiliate_id
    )
    principal.require_record(payout.affiliate_id, "payout", payout_id)  # a manager's
    return payout


@router.post("/payouts/{payout_id:int}/paid", response_model=PayoutOut)
async def mark_paid(payout_id: IdPath, body: PaidIn, pool: PoolDep, by: AdminActor) -> PayoutOut:
    return await service.mark_paid(pool, payout_id=payout_id, reference=body.reference, by=by)


@router.post("/payouts/{payout_id:int}/failed", response_model=PayoutOut)
async def mark_failed(
    payout_id: IdPath, body: FailedIn, pool: PoolDep, by: AdminActor
) -> PayoutOut:
    """The money returns to available (a new ledger entry); the entries may be paid again."""
    return await service.mark_failed(pool, payout_id=payout_id, reason=body.reason, by=by)


@router.get(
    "/payouts/{payout_id:int}/statement.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string"}}}}},
)
async def get_statement(
    payout_id: IdPath,
    pool: PoolDep,
    redis: RedisDep,
    settings: SettingsDep,
    principal: ScopedKey,
) -> Response:
    if principal.is_manager:
        await get_payout(payout_id, pool, principal)
    pdf = await statement.pdf(
        pool,
        payout_id=payout_id,
        only_affiliate_id=principal.only_affiliate_id,
        program_name=settings.program_name,
        program_address=settings.program_address,
        font_path=settings.statement_font,
        redis=redis,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="statement-{payout_id}.pdf"'},
    )
