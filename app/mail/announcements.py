"""Announcements: a message to the affiliates of an audience, shown to their keys and
mailed to those on the announcements list.

The audience is resolved when the announcement is made (its active affiliates then are
its recipients, kept in announcement_recipients), and the mail is written to the outbox
in the same transaction: one row per recipient on the list with an address.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from app.catalog.fields import Input
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, found
from app.mail import markdown, queries
from app.pagination import Page, PageParams
from app.patterns import MAX_ID

AUDIENCE_PATTERN = (
    r"^(all|group:[1-9][0-9]{0,18}|offer:[1-9][0-9]{0,18}|tag:[A-Za-z0-9 _.:-]{1,50})$"
)
Audience = Annotated[
    str,
    Field(
        pattern=AUDIENCE_PATTERN,
        description="`all`, `group:<id>`, `tag:<tag>` or `offer:<id>` (the affiliates "
        "with a link on the offer); only `active` affiliates are addressed",
    ),
]


class AnnouncementIn(Input):
    subject: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
    body: str = Field(min_length=1, max_length=50_000, description="Markdown")
    audience: Audience


class AnnouncementOut(BaseModel):
    id: int
    subject: str
    body: str = Field(description="the Markdown as given")
    body_html: str = Field(description="sanitized HTML")
    body_text: str
    audience: str
    recipients: int = Field(description="affiliates addressed (active in the audience)")
    mailed: int = Field(description="of them, mailed (on the announcements list)")
    created_at: datetime


def _out(row: object) -> AnnouncementOut:
    r = dict(row)  # type: ignore[call-overload]
    r["body"] = r.pop("body_markdown")
    return AnnouncementOut.model_validate(r)


def parse_audience(audience: str) -> tuple[str, int | None, str | None]:
    """(kind, id, tag) of an audience the pattern admitted."""
    kind, _, value = audience.partition(":")
    if kind in ("group", "offer"):
        number = int(value)
        if number > MAX_ID:
            raise BadRequest(f"audience: {kind} ID out of range", code="invalid_request")
        return kind, number, None
    if kind == "tag":
        return kind, None, value
    return "all", None, None


async def create(
    conn: Connection, *, body: AnnouncementIn, author_key_id: int | None
) -> AnnouncementOut:
    kind, number, tag = parse_audience(body.audience)
    async with conn.transaction():
        if kind == "group" and not await conn.fetchval(queries.GROUP_EXISTS, number):
            raise Conflict(f"group {number} does not exist", code="invalid_reference")
        if kind == "offer" and not await conn.fetchval(queries.OFFER_EXISTS, number):
            raise Conflict(f"offer {number} does not exist", code="invalid_reference")
        recipients = [r["id"] for r in await conn.fetch(queries.AUDIENCE, kind, number, tag)]
        row = await conn.fetchrow(
            queries.INSERT_ANNOUNCEMENT,
            body.subject,
            body.body,
            markdown.to_html(body.body),
            markdown.to_text(body.body),
            body.audience,
            author_key_id,
        )
        assert row is not None
        await conn.execute(queries.INSERT_RECIPIENTS, row["id"], recipients)
        status = await conn.execute(queries.ENQUEUE_ANNOUNCEMENT, row["id"])
        mailed = int(status.rsplit(" ", 1)[-1])
        row = await conn.fetchrow(queries.SET_COUNTS, row["id"], len(recipients), mailed)
    return _out(row)


async def list_announcements(
    conn: Executor, *, page: PageParams, affiliate_id: int | None
) -> Page[AnnouncementOut]:
    """`affiliate_id`: only those addressed to it (an affiliate key); None: all."""
    rows = await conn.fetch(queries.LIST_ANNOUNCEMENTS, page.after, page.limit, affiliate_id)
    return page.of([_out(r) for r in rows], rows)


async def get_announcement(
    conn: Executor, *, announcement_id: int, affiliate_id: int | None
) -> AnnouncementOut:
    row = found(
        await conn.fetchrow(queries.GET_ANNOUNCEMENT, announcement_id, affiliate_id),
        "announcement",
        announcement_id,
    )
    return _out(row)
