"""/api/v1/conversions: list and filter; PATCH a status by hand (an admin, or a manager
for their affiliates' conversions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Query

from app.api_params import IdPath, IdQuery, TimeQuery, moment
from app.attribution import service as attribution
from app.attribution.schemas import (
    AffiliateConversionOut,
    ConversionChangeOut,
    ConversionOut,
    StatusPatch,
    fields_of,
)
from app.customers import service as customer_service
from app.db import Pool
from app.deps import PoolDep, ScopedKey, StaffKey
from app.errors import NotFound
from app.keys.service import Principal
from app.pagination import (
    Page,
    PageQuery,
)

router = APIRouter(prefix="/conversions", tags=["conversions"])

Status = Literal["approved", "pending", "rejected", "unattributed"]


@router.get("", response_model=Page[ConversionOut] | Page[AffiliateConversionOut])
async def list_conversions(
    pool: PoolDep,
    principal: ScopedKey,
    page: PageQuery,
    from_: Annotated[TimeQuery, Query(alias="from")] = None,
    to: TimeQuery = None,
    affiliate: IdQuery = None,
    offer: IdQuery = None,
    status: Status | None = None,
    event: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[ConversionOut] | Page[AffiliateConversionOut]:
    rows = await attribution.list_conversions(
        pool,
        page=page,
        start=moment(from_, "from", end=False),
        end=moment(to, "to", end=True),
        affiliate_ids=principal.scope(affiliate),
        offer_id=offer,
        status=status,
        event=event,
    )
    if principal.is_admin:
        return page.of(await _admin_view(pool, rows), rows)
    return page.of([AffiliateConversionOut.model_validate(fields_of(r)) for r in rows], rows)


@router.get("/{conversion_id}", response_model=ConversionOut | AffiliateConversionOut)
async def get_conversion(
    conversion_id: IdPath, pool: PoolDep, principal: ScopedKey
) -> ConversionOut | AffiliateConversionOut:
    row = await attribution.get_conversion(pool, conversion_id=conversion_id)
    if principal.is_manager:
        _require_conversion(principal, row)
    if principal.is_admin:
        return (await _admin_view(pool, [row]))[0]
    if row["affiliate_id"] is None or row["affiliate_id"] != principal.affiliate_id:
        # Someone else's conversion looks like no conversion at all.
        raise NotFound(f"conversion {conversion_id} does not exist")
    return AffiliateConversionOut.model_validate(fields_of(row))


@router.get("/{conversion_id}/history", response_model=list[ConversionChangeOut])
async def conversion_history(
    conversion_id: IdPath, pool: PoolDep, principal: StaffKey
) -> list[ConversionChangeOut]:
    if principal.is_manager:
        _require_conversion(
            principal, await attribution.get_conversion(pool, conversion_id=conversion_id)
        )
    rows = await attribution.conversion_history(pool, conversion_id=conversion_id)
    return [ConversionChangeOut.model_validate(dict(r)) for r in rows]


@router.patch("/{conversion_id}", response_model=ConversionOut)
async def patch_conversion(
    conversion_id: IdPath, body: StatusPatch, pool: PoolDep, principal: StaffKey
) -> ConversionOut:
    if principal.is_manager:
        _require_conversion(
            principal, await attribution.get_conversion(pool, conversion_id=conversion_id)
        )
    row = await attribution.change_status(
        pool, conversion_id=conversion_id, status=body.status, changed_by=principal.admin_actor
    )
    return (await _admin_view(pool, [row]))[0]


def _require_conversion(principal: Principal, row: asyncpg.Record) -> None:
    """A manager's: their affiliates' conversions only (unattributed ones are owners')."""
    principal.require_record(row["affiliate_id"], "conversion", row["id"])


async def _admin_view(pool: Pool, rows: Sequence[asyncpg.Record]) -> list[ConversionOut]:
    """Conversions as an admin sees them: with their customers' external IDs."""
    external = await customer_service.external_ids(
        pool, {int(r["customer_id"]) for r in rows if r["customer_id"] is not None}
    )
    return [
        ConversionOut.model_validate(
            {**fields_of(r), "customer_external_id": external.get(r["customer_id"])}
        )
        for r in rows
    ]
