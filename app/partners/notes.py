"""Admin-only notes on an affiliate: append-only, newest last."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from app.catalog.fields import Input
from app.db import Executor
from app.errors import NotFound, found
from app.pagination import Page, PageParams
from app.partners import queries


class NoteIn(Input):
    text: str = Field(min_length=1, max_length=10_000)


class NoteOut(BaseModel):
    id: int
    affiliate_id: int
    author_key_id: int | None = Field(
        description="the admin key that wrote it (null: ADMIN_API_KEY)"
    )
    text: str
    created_at: datetime


async def add_note(
    conn: Executor, *, affiliate_id: int, author_key_id: int | None, body: NoteIn
) -> NoteOut:
    row = found(
        await conn.fetchrow(queries.INSERT_NOTE, affiliate_id, author_key_id, body.text),
        "affiliate",
        affiliate_id,
    )
    return NoteOut(**dict(row))


async def list_notes(conn: Executor, *, affiliate_id: int, page: PageParams) -> Page[NoteOut]:
    if not await conn.fetchval(queries.AFFILIATE_EXISTS, affiliate_id):
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    rows = await conn.fetch(queries.LIST_NOTES, affiliate_id, page.after, page.limit)
    return page.of([NoteOut(**dict(r)) for r in rows], rows)
