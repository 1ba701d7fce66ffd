"""/api/v1/deliveries: the log of outbound postbacks and webhooks, and a manual retry.

An admin sees every delivery; an affiliate key sees its own only (its postbacks and the
deliveries to its own webhook endpoints).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.api_params import IdPath
from app.deps import PoolDep, ScopedKey
from app.pagination import (
    Filters,
    Page,
)
from app.sender import service as sender_service
from app.sender.deliveries import DeliveryKind, DeliveryQuery, DeliveryStatus

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


class DeliveryOut(BaseModel):
    id: int
    kind: DeliveryKind = Field(description="`postback` to an affiliate, or `webhook`")
    conversion_id: int | None = Field(description="the conversion of a postback")
    affiliate_id: int | None = Field(
        description="the affiliate of a postback or of an affiliate's webhook endpoint"
    )
    conversion_status: str | None = Field(description="the status a postback reports")
    webhook_id: int | None = Field(
        description="the webhook endpoint (null for postbacks, and once it is deleted)"
    )
    event_id: str | None = Field(description="a webhook's `webhook-id`, the same on every try")
    event_type: str | None = Field(description="a webhook's event type")
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
    pool: PoolDep, key: ScopedKey, query: Filters[DeliveryQuery]
) -> Page[DeliveryOut]:
    """Deliveries in ID order, filtered by affiliate, status, kind and webhook endpoint."""
    rows = await sender_service.list_deliveries(pool, query=query.scoped(key))
    return query.of([DeliveryOut(**dict(r)) for r in rows], rows)


@router.get("/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(delivery_id: IdPath, pool: PoolDep, key: ScopedKey) -> DeliveryDetail:
    """One delivery with every try: time, status code or error, latency, response snippet."""
    row, attempts = await sender_service.get_delivery(pool, delivery_id, key=key)
    return DeliveryDetail(**dict(row), attempts_log=[AttemptOut(**dict(a)) for a in attempts])


@router.post(
    "/{delivery_id}/retry",
    response_model=DeliveryOut,
    responses={409: {"description": "the delivery was already delivered"}},
)
async def retry_delivery(delivery_id: IdPath, pool: PoolDep, key: ScopedKey) -> DeliveryOut:
    """Make a pending or failed delivery due now; a failed one gets one more try (a
    webhook with the same `webhook-id`). An affiliate key retries the deliveries of its
    own webhook endpoints only."""
    row = await sender_service.retry_delivery(pool, delivery_id, key=key)
    return DeliveryOut(**dict(row))
