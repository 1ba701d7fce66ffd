from __future__ import annotations

from fastapi import APIRouter

from app.deps import AdminKey, PoolDep
from app.pagination import (
    Page,
    PageQuery,
)
from app.privacy import service as privacy_service
from app.privacy.deps import ErasureContext
from app.privacy.schemas import EraseRequest, Erasure

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.post(
    "/erase",
    status_code=201,
    response_model=Erasure,
    responses={
        404: {"description": "a `customer_id` no customer has"},
        409: {"description": "a customer erased already, or a spool file busy: try again"},
    },
)
async def erase(body: EraseRequest, context: ErasureContext, key: AdminKey) -> Erasure:
    return await privacy_service.erase(
        context, subject=privacy_service.subject_of(body), key_id=key.key_id
    )


@router.get("/erasures", response_model=Page[Erasure])
async def list_erasures(pool: PoolDep, _: AdminKey, page: PageQuery) -> Page[Erasure]:
    return await privacy_service.list_erasures(pool, page=page)
