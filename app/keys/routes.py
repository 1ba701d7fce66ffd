from __future__ import annotations

from fastapi import APIRouter

from app.api_params import IdPath
from app.deps import AdminKey, PoolDep
from app.keys import service as keys_service
from app.keys.schemas import CreatedKey, KeyIn, KeyOut
from app.pagination import (
    Page,
    PageQuery,
)

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post("", status_code=201, response_model=CreatedKey)
async def create_key(body: KeyIn, pool: PoolDep, _: AdminKey) -> CreatedKey:
    return await keys_service.create_key(
        pool, role=body.role, affiliate_id=body.affiliate_id, name=body.name
    )


@router.get("", response_model=Page[KeyOut])
async def list_keys(pool: PoolDep, _: AdminKey, page: PageQuery) -> Page[KeyOut]:
    return await keys_service.list_keys(pool, page=page)


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: IdPath, pool: PoolDep, _: AdminKey) -> KeyOut:
    return await keys_service.revoke_key(pool, key_id=key_id)
