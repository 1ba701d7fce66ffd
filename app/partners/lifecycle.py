"""The affiliate lifecycle: which status may follow which, each change recorded.

    applied --approve--> active --suspend--> suspended --reactivate--> active
    applied --reject--> rejected --approve--> active
    any --DELETE (referenced)--> archived --reactivate--> active

Only `active` affiliates' links reach their offers (the others go to the fallback,
counted as diverted) and only their keys work (app.keys.service).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

from app.accounts import users as account_users
from app.db import Connection
from app.errors import Conflict, NotFound
from app.partners import queries
from app.partners.history import Actor, Change, record

Action = Literal["approve", "reject", "suspend", "reactivate"]


class Move(NamedTuple):
    """The statuses a change starts from, the one it leads to, and what it is called."""

    allowed_from: frozenset[str]
    to: str
    what: str


ACTIONS: dict[Action, Move] = {
    "approve": Move(frozenset({"applied", "rejected"}), "active", "approve"),
    "reject": Move(frozenset({"applied"}), "rejected", "reject"),
    "suspend": Move(frozenset({"active"}), "suspended", "suspend"),
    "reactivate": Move(frozenset({"suspended", "archived"}), "active", "reactivate"),
}
# What a PATCH of `status` may do: the moves of the actions above that lead there.
PATCH_MOVES: dict[str, Move] = {
    "active": Move(
        ACTIONS["approve"].allowed_from | ACTIONS["reactivate"].allowed_from,
        "active",
        "status active",
    ),
    "suspended": Move(ACTIONS["suspend"].allowed_from, "suspended", "status suspended"),
}


class InvalidTransition(Conflict, code="invalid_transition"): ...


async def _move(
    conn: Connection, move: Move, *, affiliate_id: int, actor: Actor, reason: str | None
) -> str:
    """Lock the row, check the move, write it and its history; the status before."""
    allowed_from, to, what = move
    before: str | None = await conn.fetchval(queries.LOCK_STATUS, affiliate_id)
    if before is None:
        raise NotFound(f"affiliate {affiliate_id} does not exist")
    if before == to:
        return before
    if before not in allowed_from:
        raise InvalidTransition(
            f"affiliate {affiliate_id} is {before}: {what} needs it "
            + " or ".join(sorted(allowed_from))
        )
    await conn.execute(queries.SET_STATUS, affiliate_id, to)
    await record(conn, actor, [Change(affiliate_id, "status", before, to, reason)])
    if to == "active" and before in ACTIONS["approve"][0]:
        # An approved affiliate's contact is invited to the portal, in the same transaction.
        await account_users.invite_affiliate(
            conn,
            affiliate_id=affiliate_id,
            actor=f"{actor.role}:{actor.key_id}" if actor.key_id else actor.role,
        )
    return before


async def apply_action(
    conn: Connection, *, affiliate_id: int, action: Action, actor: Actor, reason: str | None
) -> None:
    """approve, reject, suspend or reactivate, in its own transaction. Repeating an
    action on an affiliate already in its status is no change (and no history)."""
    async with conn.transaction():
        await _move(conn, ACTIONS[action], affiliate_id=affiliate_id, actor=actor, reason=reason)


async def set_status(
    conn: Connection, *, affiliate_id: int, status: str, actor: Actor, reason: str | None = None
) -> None:
    """A PATCH of `status` (in the caller's transaction): the same moves as the actions."""
    await _move(conn, PATCH_MOVES[status], affiliate_id=affiliate_id, actor=actor, reason=reason)


async def record_archived(
    conn: Connection, *, affiliate_id: int, before: str, actor: Actor
) -> None:
    if before != "archived":
        await record(conn, actor, [Change(affiliate_id, "status", before, "archived", "deleted")])
