"""The one transaction of a batch of conversions: locks, rows, history, rollups, outbox.

A fixed number of statements whatever the batch's size. Every writer of a conversion
first takes transaction-scoped advisory locks on its (advertiser, txid) key, on the offer
when it has conversion caps, and on (click, goal) when the goal allows one conversion per
click, all in ascending order: concurrent duplicates then serialise instead of racing,
and batches never deadlock on each other. What to write is decided without I/O
(app/attribution/batch.py, app/attribution/decision.py).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

import asyncpg

from app.attribution import queries
from app.attribution.batch import Key, plan
from app.attribution.decision import Candidate, Quota
from app.attribution.rollup import Rollups
from app.attribution.rules import Row
from app.caps import conversions as conversion_caps
from app.db import Connection
from app.ledger import record as ledger
from app.mail import service as mail_service
from app.postbacks.records import ConversionRecord
from app.sender import service as sender_service
from app.webhooks import events as webhooks


def lock_key(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


async def write_batch(
    conn: Connection,
    now: datetime,
    candidates: list[Candidate],
    caps: dict[int, list[conversion_caps.ConversionCap]],
    *,
    superseded: list[ConversionRecord],
) -> int:
    """Store a batch's conversions and status changes (in the caller's transaction);
    records to try again later go to `superseded`. How many events were stored."""
    locks = {lock_key("txid", row["advertiser_id"], row["txid"]) for row, _, _ in candidates}
    capped = {
        row["offer_id"]
        for row, _, _ in candidates
        if row["offer_id"] is not None and caps[row["offer_id"]]
    }
    locks |= {lock_key("caps", offer_id) for offer_id in capped}
    single = [row for row, _, one in candidates if one]
    locks |= {lock_key("click", row["click_id"], row["goal"]) for row in single}
    await conn.fetchval(queries.LOCK_KEYS, sorted(locks))

    pairs = sorted({(row["advertiser_id"], row["txid"]) for row, _, _ in candidates})
    existing = await conn.fetch(
        queries.EXISTING_BY_TXID, [p[0] for p in pairs], [p[1] for p in pairs]
    )
    state: dict[Key, Row] = {(int(r["advertiser_id"]), str(r["txid"])): dict(r) for r in existing}
    taken: set[tuple[uuid.UUID, str]] = set()
    if single:
        taken = {
            (r["click_id"], str(r["goal"]))
            for r in await conn.fetch(
                queries.CLICK_GOAL_TAKEN, list({row["click_id"] for row in single})
            )
        }
    usage = await conversion_caps.Usage.counted(conn, caps, capped, now)

    quota = Quota(taken, usage)
    batch = plan(candidates, state, quota, now)
    await mail_service.notify_capped(conn, metric="conversions", refused=quota.capped, at=now)
    superseded += batch.superseded
    await webhooks.emit_caps_reached(conn, usage.refusals())

    if batch.creates:
        inserted = await conn.fetch(
            queries.INSERT_CONVERSIONS,
            *([row[c] for row in batch.creates] for c in queries.INSERT_COLUMNS),
        )
        for r in inserted:
            key = (int(r["advertiser_id"]), str(r["txid"]))
            state[key]["id"] = r["id"]
            state[key]["created_at"] = r["created_at"]
    changed = {k for k, *_ in batch.changes} | batch.touched
    final = {state[k]["id"]: state[k] for k in sorted(changed)}
    # A conversion created and changed in this batch went in with its final status
    # already (its row is the one the change updated); history and rollups still
    # replay each step, which nets out to the final status.
    if final:
        await ledger.lock_currencies(conn, list(final.values()))
        await conn.execute(
            queries.UPDATE_STATUSES,
            list(final),
            [r["status"] for r in final.values()],
            [r["reason"] for r in final.values()],
            [r["status_at"] for r in final.values()],
        )
    if batch.freed:
        await conn.execute(queries.FREE_TXIDS, [state[k]["id"] for k in sorted(batch.freed)])
    if not batch.events:
        return 0
    affiliates = await affiliates_of(
        conn,
        {int(state[k]["affiliate_id"]) for k, *_ in batch.events if state[k]["affiliate_id"]},
    )
    events = [(state[k], old, new, by) for k, old, new, by in batch.events]
    await apply_effects(conn, events, affiliates)
    return len(batch.events)


class Outbox:
    """Affiliate postbacks to send, written in the conversion's transaction.

    The sender decides who hears of what (`sender_service.delivery_for`); this batches
    the rows: one INSERT per batch instead of one round trip per conversion.
    """

    def __init__(self, affiliates: dict[int, asyncpg.Record]) -> None:
        self._affiliates = affiliates
        self._rows: list[sender_service.Delivery] = []

    def add(self, row: Row, status: str) -> None:
        affiliate = self._affiliates.get(row["affiliate_id"]) if row["affiliate_id"] else None
        if affiliate is None:
            return
        delivery = sender_service.delivery_for(
            conversion={**row, "status": status}, affiliate=affiliate
        )
        if delivery is not None:
            self._rows.append(delivery)

    async def write(self, conn: Connection) -> None:
        await sender_service.enqueue_deliveries(conn, self._rows)

    def __len__(self) -> int:
        return len(self._rows)


async def affiliates_of(conn: Connection, ids: set[int]) -> dict[int, asyncpg.Record]:
    if not ids:
        return {}
    rows = await conn.fetch(queries.AFFILIATES, list(ids))
    return {int(r["id"]): r for r in rows}


async def _write_history(conn: Connection, items: list[tuple[int, str | None, str, str]]) -> None:
    if items:
        await conn.execute(queries.INSERT_HISTORY, *map(list, zip(*items, strict=True)))


async def apply_effects(
    conn: Connection,
    events: list[tuple[Row, str | None, str, str]],
    affiliates: dict[int, asyncpg.Record],
) -> None:
    """Ledger, history, rollups and outbox of creations (old None) and status changes, in
    order. The ledger goes first: its lock against payout runs is then taken before any
    rollup row is (a run waits on no row lock, so no cycle can form)."""
    await ledger.record(conn, events)
    rollups = Rollups()
    outbox = Outbox(affiliates)
    history: list[tuple[int, str | None, str, str]] = []
    for row, old, new, by in events:
        history.append((row["id"], old, new, by))
        rollups.move(row, old, new)
        outbox.add(row, new)
    await _write_history(conn, history)
    await rollups.write(conn)
    await outbox.write(conn)
    await webhooks.emit_conversions(conn, events)
