"""/api/v1/ledger (entries; bonuses and adjustments) and /api/v1/affiliates/{id}/balance.

Admin keys see every affiliate's money; an affiliate key its own only.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api_params import IdPath, TimeQuery, moment
from app.deps import AdminActor, PoolDep, ScopedKey, SettingsDep
from app.ledger import service
from app.ledger.schemas import BalanceOut, EntryOut, LedgerQuery, ManualEntryIn
from app.pagination import (
    Filters,
    Page,
)

router = APIRouter(tags=["ledger"])


@router.get("/ledger", response_model=Page[EntryOut])
async def list_ledger(
    pool: PoolDep,
    principal: ScopedKey,
    query: Filters[LedgerQuery],
    from_: Annotated[TimeQuery, Query(alias="from")] = None,
    to: TimeQuery = None,
) -> Page[EntryOut]:
    """Entries in the order they were appended, each with its state derived now."""
    rows = await service.list_entries(
        pool,
        query=query.scoped(principal),
        start=moment(from_, "from", end=False),
        end=moment(to, "to", end=True),
    )
    return query.of_items(rows)


@router.post("/ledger", status_code=201, response_model=EntryOut)
async def add_entry(body: ManualEntryIn, pool: PoolDep, created_by: AdminActor) -> EntryOut:
    """A bonus or adjustment (admin, with a reason): payable at once, positive or negative."""
    return await service.add_manual_entry(pool, body=body, created_by=created_by)


@router.get("/affiliates/{affiliate_id}/balance", response_model=BalanceOut)
async def get_balance(
    affiliate_id: IdPath, pool: PoolDep, principal: ScopedKey, settings: SettingsDep
) -> BalanceOut:
    principal.require_affiliate_access(affiliate_id)
    return await service.balance(
        pool, affiliate_id=affiliate_id, default_threshold=settings.payout_threshold
    )
