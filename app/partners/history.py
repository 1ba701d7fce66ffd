"""The affiliate history: every status change and group move, who made it and why; and
the webhook events of those (app/partners/events.py), in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from app.db import Executor
from app.errors import NotFound
from app.mail import partners as partner_mail
from app.pagination import Page, PageParams
from app.partners import events as partner_events
from app.partners import queries

if TYPE_CHECKING:
    from app.keys.service import Principal

ActorRole = Literal["admin", "affiliate", "apply", "system"]
GROUP_EVALUATION = "group evaluation"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who made a change: a key (its id; None for ADMIN_API_KEY), an application, or the
    worker's group evaluation."""

    role: ActorRole
    key_id: int | None = None


def actor_of(caller: Principal) -> Actor:
    return Actor(role="admin" if caller.is_admin else "affiliate", key_id=caller.key_id)


APPLY = Actor(role="apply")
SYSTEM = Actor(role="system")


@dataclass(frozen=True, slots=True)
class Change:
    affiliate_id: int
    kind: Literal["status", "group"]
    before: str | None
    after: str | None
    reason: str | None = None


class HistoryOut(BaseModel):
    id: int
    affiliate_id: int
    kind: Literal["status", "group"] = Field(description="a status change or a group move")
    from_: str | None = Field(alias="from", description="the status, or group id, before")
    to: str | None = Field(description="the status, or group id (null: none), after")
    actor_role: ActorRole
    actor_key_id: int | None = Field(description="the key that made it (null: ADMIN_API_KEY)")
    reason: str | None
    created_at: datetime

    model_config = {"populate_by_name": True}


def group_value(group_id: int | None) -> str | None:
    return None if group_id is None else str(group_id)


async def record(conn: Executor, actor: Actor, changes: Sequence[Change]) -> None:
    if not changes:
        return
    await conn.execute(
        queries.INSERT_HISTORY,
        [c.affiliate_id for c in changes],
        [c.kind for c in changes],
        [c.before for c in changes],
        [c.after for c in changes],
        [actor.role] * len(changes),
        [actor.key_id] * len(changes),
        [c.reason for c in changes],
    )
    # Applications, decisions and group moves are mailed from the same transaction.
    await partner_mail.on_changes(conn, changes)
    await partner_events.emit_changes(conn, actor, changes)


async def list_history(conn: Executor, *, affiliate_id: int, page: PageParams) -> Page[HistoryOut]:
    if not await conn.fetchval(queries.AFFILIATE_EXISTS, affiliate_id):
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    rows = await conn.fetch(queries.LIST_HISTORY, affiliate_id, page.after, page.limit)
    return page.of([HistoryOut.model_validate(dict(r)) for r in rows], rows)
