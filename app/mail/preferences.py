"""Which opt-in lists an affiliate is on (no row: none). Transactional mail (its
application, approval, group, payouts) is not a list: it always goes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from app.db import Executor
from app.errors import found
from app.mail import queries


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    announcements: bool = Field(description="announcements of the program")
    digest: bool = Field(description="a daily digest of approved conversions")
    offer_changes: bool = Field(description="an offer it promotes paused or capped")


class PreferencesOut(PreferencesIn):
    affiliate_id: int


async def get(conn: Executor, *, affiliate_id: int) -> PreferencesOut:
    row = found(
        await conn.fetchrow(queries.GET_PREFERENCES, affiliate_id), "affiliate", affiliate_id
    )
    return PreferencesOut.model_validate(dict(row))


async def put(conn: Executor, *, affiliate_id: int, body: PreferencesIn) -> PreferencesOut:
    """Replace the three choices; 404 for no such affiliate (nothing stored)."""
    current = await get(conn, affiliate_id=affiliate_id)
    await conn.execute(
        queries.PUT_PREFERENCES,
        current.affiliate_id,
        body.announcements,
        body.digest,
        body.offer_changes,
    )
    return await get(conn, affiliate_id=affiliate_id)
