"""/api/v1/deliveries: the outbound postback log, and a manual retry.

An admin sees every delivery; an affiliate key sees its own only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from app.deps import AdminKey, CurrentKey, PoolDep
from app.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, after_id, next_cursor
from app.patterns import MAX_ID
from app.sender import service as sender_service

router = APIRouter(prefix="/deliveries", tags=["deliveries"])

DeliveryStatus = Literal["pending", "delivered", "failed"]
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


class DeliveryOut(BaseModel):
    id: int
    conversion_id: int
    affiliate_id: int
    conversion_status: str
    method: str
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class AttemptOut(BaseModel):
    id: int
    attempted_at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    response_snippet: str | None


class DeliveryDetail(DeliveryOut):
    attempts_log: list[AttemptOut]


@router.get("", response_model=Page[DeliveryOut])
async def list_deliveries(
    pool: PoolDep,
    key: CurrentKey,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    affiliate_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: DeliveryStatus | None = None,
) -> Page[DeliveryOut]:
    """Deliveries in ID order, filtered by affiliate and status."""
    if affiliate_id is not None:
        key.require_affiliate_access(affiliate_id)
    elif not key.is_admin:
        affiliate_id = key.affiliate_id
    rows = await sender_service.list_deliveries(
        pool, after=after_id(cursor), limit=limit, affiliate_id=affiliate_id, status=status
    )
    return Page[DeliveryOut](
        items=[DeliveryOut(**dict(r)) for r in rows],
        next_cursor=next_cursor(rows, limit),
    )


@router.get("/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(delivery_id: IdPath, pool: PoolDep, key: CurrentKey) -> DeliveryDetail:
    """One delivery with every try: time, status code or error, latency, response snippet."""
    row, attempts = await sender_service.get_delivery(pool, delivery_id, key=key)
    return DeliveryDetail(**dict(row), attempts_log=[AttemptOut(**dict(a)) for a in attempts])


@router.post(
    "/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={409: {"description": "the delivery was already delivered"}},
)
async def retry_delivery(delivery_id: IdPath, pool: PoolDep, _: AdminKey) -> DeliveryOut:
    """Make a pending or failed delivery due now; a failed one gets one more try."""
    return DeliveryOut(**dict(await sender_service.retry_delivery(pool, delivery_id)))
