"""The affiliate lifecycle's webhook events, from the history it records (one owner: every
status change and group move goes through app/partners/history.py, which calls this in
the transaction of the change, for the whole batch at once).

    a new `applied` affiliate (POST /apply, or an admin's)  -> affiliate.applied
    any later status change                                 -> affiliate.status_changed
    a group move (PATCH, group evaluation; not at creation) -> affiliate.group_changed
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from app.db import Executor
from app.partners import queries
from app.webhooks import events as webhooks

if TYPE_CHECKING:
    from app.partners.history import Actor, Change

TYPES = ("affiliate.applied", "affiliate.status_changed", "affiliate.group_changed")


def type_of(change: Change) -> str | None:
    if change.kind == "status":
        if change.before is None:
            return "affiliate.applied" if change.after == "applied" else None
        return "affiliate.status_changed"
    if change.before is None and change.reason == "created":
        return None  # a new affiliate's group is no move
    return "affiliate.group_changed"


def _group_id(value: str | None) -> int | None:
    return None if value is None else int(value)


async def emit_changes(conn: Executor, actor: Actor, changes: Sequence[Change]) -> None:
    typed = [(t, c) for c in changes if (t := type_of(c)) is not None]
    if not typed:
        return
    subscriptions = await webhooks.Subscriptions.read(conn, (t for t, _ in typed))
    if not subscriptions:
        return  # the common case: one query, nothing built
    wanted = [
        (t, c)
        for t, c in typed
        if any(subscriptions.wanted(webhooks.Event(t, {}, affiliate_id=c.affiliate_id)))
    ]
    if not wanted:
        return
    group_ids = {
        g
        for _, c in wanted
        if c.kind == "group"
        for g in (_group_id(c.before), _group_id(c.after))
        if g is not None
    }
    names = await conn.fetch(
        queries.EVENT_NAMES, sorted({c.affiliate_id for _, c in wanted}), sorted(group_ids)
    )
    affiliates = {int(r["id"]): r["name"] for r in names if r["kind"] == "affiliate"}
    groups = {int(r["id"]): r["name"] for r in names if r["kind"] == "group"}
    out = []
    for type_, c in wanted:
        name = affiliates.get(c.affiliate_id)
        data: dict[str, Any] = {"affiliate_id": c.affiliate_id, "name": name}
        if c.kind == "status":
            data |= {"status": c.after, "previous_status": c.before}
        else:
            before, after = _group_id(c.before), _group_id(c.after)
            data |= {
                "group_id": after,
                "group_name": groups.get(after) if after is not None else None,
                "previous_group_id": before,
                "previous_group_name": groups.get(before) if before is not None else None,
            }
        data |= {"reason": c.reason, "actor": actor.role}
        out.append(webhooks.Event(type_, data, affiliate_id=c.affiliate_id))
    await webhooks.emit_many(conn, out, subscriptions=subscriptions)
