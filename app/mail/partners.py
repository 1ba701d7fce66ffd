"""The mail that follows the affiliate history: an application, its decision, a group
move. `app.partners.history.record` calls `on_changes` with every change it records, in
the same transaction, so each change that commits has its mail and no other does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from app.db import Executor
from app.mail import queries, service


class ChangeLike(Protocol):
    @property
    def affiliate_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def before(self) -> str | None: ...
    @property
    def after(self) -> str | None: ...
    @property
    def reason(self) -> str | None: ...


async def on_changes(conn: Executor, changes: Sequence[ChangeLike]) -> None:
    moves = [c for c in changes if c.kind == "group" and c.reason != "created"]
    names = await service.group_names(
        conn, sorted({int(v) for c in moves for v in (c.before, c.after) if v is not None})
    )
    for c in changes:
        if c.kind == "status":
            if c.before is None and c.after == "applied":
                await _applied(conn, c.affiliate_id)
            elif c.after == "active" and c.before in ("applied", "rejected"):
                await service.notify(conn, "approved", c.affiliate_id, {"reason": c.reason})
            elif c.after == "rejected":
                await service.notify(conn, "rejected", c.affiliate_id, {"reason": c.reason})
        elif c in moves and c.before != c.after:
            data = {
                "from_group_id": c.before,
                "to_group_id": c.after,
                "from_name": names.get(int(c.before)) if c.before else None,
                "to_name": names.get(int(c.after)) if c.after else None,
            }
            await service.notify(conn, "group_changed", c.affiliate_id, data)


async def _applied(conn: Executor, affiliate_id: int) -> None:
    await service.notify(conn, "application_received", affiliate_id)
    row = await conn.fetchrow(queries.AFFILIATE_CONTACT, affiliate_id)
    if row is not None:
        await service.notify_owner(
            conn,
            "new_application",
            {
                "affiliate_id": affiliate_id,
                "name": row["name"],
                "email": row["email"],
                "website": row["website"],
            },
        )
