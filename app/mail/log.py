"""The outbox as the API shows it: every mail, its status and its tries (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from app.db import Executor
from app.errors import found
from app.mail import queries
from app.pagination import AffiliatePage, Page

MailStatus = Literal["pending", "sent", "failed", "skipped"]


class AttemptOut(BaseModel):
    id: int
    attempted_at: datetime
    smtp_code: int | None
    error: str | None


class MailOut(BaseModel):
    id: int
    kind: str
    affiliate_id: int | None
    to_owner: bool
    announcement_id: int | None
    status: MailStatus
    attempts: int
    next_attempt_at: datetime
    recipient: str | None
    subject: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class MailDetailOut(MailOut):
    tries: list[AttemptOut]


class MailQuery(AffiliatePage):
    status: MailStatus | None = None


async def list_mail(conn: Executor, *, query: MailQuery) -> Page[MailOut]:
    rows = await conn.fetch(*queries.LIST_MAIL.bind(*query.arguments()))
    return query.of([MailOut.model_validate(dict(r)) for r in rows], rows)


async def get_mail(conn: Executor, *, mail_id: int) -> MailDetailOut:
    row = found(await conn.fetchrow(queries.GET_MAIL, mail_id), "mail", mail_id)
    tries = [
        AttemptOut.model_validate(dict(r)) for r in await conn.fetch(queries.MAIL_TRIES, mail_id)
    ]
    return MailDetailOut.model_validate({**dict(row), "tries": tries})
