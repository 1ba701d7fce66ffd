"""/api/v1/coupons: admin keys manage them; an affiliate key reads its own."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api_params import IdPath
from app.coupons import service
from app.coupons.schemas import CouponIn, CouponOut, CouponPatch, CouponQuery
from app.deps import PoolDep, ScopedKey, StaffKey
from app.keys.service import Principal
from app.pagination import (
    Filters,
    Page,
)

router = APIRouter(prefix="/coupons", tags=["coupons"])


@router.post("", status_code=201, response_model=CouponOut)
async def create_coupon(body: CouponIn, pool: PoolDep, caller: StaffKey) -> CouponOut:
    caller.require_affiliate_access(body.affiliate_id)  # a manager: for their affiliates
    return await service.create_coupon(pool, body=body)


@router.get("", response_model=Page[CouponOut])
async def list_coupons(
    pool: PoolDep, caller: ScopedKey, query: Filters[CouponQuery]
) -> Page[CouponOut]:
    """All coupons for an admin; an affiliate key sees its own only (a manager's session,
    one of their affiliates' at a time)."""
    return await service.list_coupons(pool, query=query.scoped(caller))


@router.get("/{coupon_id}", response_model=CouponOut)
async def get_coupon(coupon_id: IdPath, pool: PoolDep, caller: ScopedKey) -> CouponOut:
    coupon = await service.get_coupon(pool, coupon_id=coupon_id)
    caller.require_record(coupon.affiliate_id, "coupon", coupon_id)
    return coupon


async def _require_coupon(pool: PoolDep, caller: Principal, coupon_id: int) -> None:
    if caller.is_manager:
        await get_coupon(coupon_id, pool, caller)


@router.patch("/{coupon_id}", response_model=CouponOut)
async def update_coupon(
    coupon_id: IdPath, body: CouponPatch, pool: PoolDep, caller: StaffKey
) -> CouponOut:
    """Archive or reactivate a coupon (an archived code credits nobody)."""
    await _require_coupon(pool, caller, coupon_id)
    return await service.set_status(pool, coupon_id=coupon_id, status=body.status)


@router.delete("/{coupon_id}", status_code=204)
async def delete_coupon(coupon_id: IdPath, pool: PoolDep, caller: StaffKey) -> Response:
    """Delete an unused coupon; a used one is archived instead (it stays listed)."""
    await _require_coupon(pool, caller, coupon_id)
    async with pool.acquire() as conn:
        await service.delete_coupon(conn, coupon_id=coupon_id)
    return Response(status_code=204)
