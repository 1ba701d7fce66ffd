from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.deps import AdminKey, PoolDep
from app.errors import NotFound
from app.keys import queries
from app.keys import service as keys_service
from app.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page, after_id, next_cursor
from app.patterns import MAX_ID

router = APIRouter(prefix="/keys", tags=["keys"])


# As create_key checks: an affiliate key names its affiliate, an admin key names none.
ONE_ROLE: JsonDict = {
    "oneOf": [
        {"properties": {"role": {"const": "admin"}, "affiliate_id": {"type": "null"}}},
        {
            "properties": {"role": {"const": "affiliate"}, "affiliate_id": {"type": "integer"}},
            "required": ["affiliate_id"],
        },
    ]
}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=ONE_ROLE)

    role: Literal["admin", "affiliate"]
    affiliate_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    name: str | None = Field(default=None, max_length=200)


class KeyOut(BaseModel):
    id: int
    prefix: str
    name: str | None
    role: Literal["admin", "affiliate"]
    affiliate_id: int | None
    created_at: datetime
    revoked_at: datetime | None


class CreatedKey(KeyOut):
    key: str = Field(description="The plain key. It is shown in this response only.")


@router.post("", status_code=201, response_model=CreatedKey)
async def create_key(body: KeyIn, pool: PoolDep, _: AdminKey) -> CreatedKey:
    plain, row = await keys_service.create_key(
        pool, role=body.role, affiliate_id=body.affiliate_id, name=body.name
    )
    return CreatedKey(key=plain, **dict(row))


@router.get("", response_model=Page[KeyOut])
async def list_keys(
    pool: PoolDep, _: AdminKey, limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
) -> Page[KeyOut]:
    rows = await pool.fetch(queries.LIST_KEYS, after_id(cursor), limit)
    return Page[KeyOut](
        items=[KeyOut(**dict(r)) for r in rows],
        next_cursor=next_cursor(rows, limit, rows[-1]["id"] if rows else None),
    )


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(
    key_id: Annotated[int, Path(ge=1, le=MAX_ID)], pool: PoolDep, _: AdminKey
) -> KeyOut:
    row = await pool.fetchrow(queries.REVOKE_KEY, key_id)
    if row is None:
        raise NotFound(f"key {key_id} does not exist")
    return KeyOut(**dict(row))
