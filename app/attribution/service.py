"""Attribution: conversion records from the stream -> conversions, history, rollups, outbox.

One transaction per batch of stream entries, a fixed number of statements whatever its
size. Every writer of a conversion first takes transaction-scoped advisory locks on its
(advertiser, txid) key, on the offer when it has conversion caps, and on (click, goal)
when the goal allows one conversion per click, all in ascending order: concurrent
duplicates then serialise instead of racing, and batches never deadlock on each other.

A conversion whose click is not stored yet goes to a retry set (a Redis sorted set by
due time, on the shard's hash tag) with exponential backoff, and comes back onto the
stream when due; past the deadline it is stored as `unattributed`. Nothing is dropped:
entries that are not conversion records go to the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from app.attribution import pixels, queries
from app.attribution.money import by_rule, round_money
from app.clickid import click_time, format_click_id
from app.db import Connection, Pool
from app.errors import Conflict, NotFound
from app.macros import SUB_IDS
from app.postbacks.records import ConversionRecord, decode
from app.sender import service as sender_service
from app.settings import Settings
from app.streams import keys
from app.streams.outcome import DISCARDED, BatchOutcome
from app.streams.records import PoisonRecord

logger = logging.getLogger(__name__)

Entry = tuple[str, bytes]
Row = dict[str, Any]
COUNTED = ("approved", "pending")  # statuses that use up a cap or a one-per-click goal
DEADLOCK_RETRIES = 5
MOVE_BATCH = 500

# Move due retries (score <= ARGV[1], at most ARGV[2]) from KEYS[1] back onto stream KEYS[2].
MOVE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for i = 1, #due do
  redis.call('XADD', KEYS[2], '*', 'r', due[i])
  redis.call('ZREM', KEYS[1], due[i])
end
return #due
"""


@dataclass(frozen=True, slots=True)
class GoalRule:
    revenue_type: str
    revenue_value: Decimal
    payout_type: str
    payout_value: Decimal
    allow_multiple: bool


@dataclass(slots=True)
class Offer:
    id: int
    advertiser_id: int
    currency: str
    window: timedelta
    main_goal: str
    allow_payout_param: bool
    goals: dict[str, GoalRule]
    caps: list[asyncpg.Record] = field(default_factory=list)
    pixels_count: bool = True
    pixel_status: str = "pending"
    max_amount: Decimal | None = None


@dataclass(slots=True)
class Batch:
    """What one transaction writes, in stream order."""

    creates: list[Row] = field(default_factory=list)
    # (key, old status, new status, changed by)
    changes: list[tuple[tuple[int, str], str, str, str]] = field(default_factory=list)
    # (key, new status or None for a creation) in the order they happened: history/outbox
    events: list[tuple[tuple[int, str], str | None, str, str]] = field(default_factory=list)
    # Keys whose status_at moved without a change of status.
    touched: set[tuple[int, str]] = field(default_factory=set)


def lock_key(*parts: object) -> int:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, signed=True)


def bucket_of(moment: datetime) -> datetime:
    """date_bin('15 minutes', moment, '2000-01-01') in UTC, as the click rollups use."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def period_start(now: datetime, period: str) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1) if period == "month" else day


def default_txid(click_id: uuid.UUID, goal: str) -> str:
    """Without a txid, one conversion per click and goal: a repeat is the same conversion."""
    return f"click:{format_click_id(click_id)}:{goal}"


# --- candidates --------------------------------------------------------------------


def _offers(rows: list[asyncpg.Record], goals: list[asyncpg.Record]) -> dict[int, Offer]:
    offers = {
        int(r["id"]): Offer(
            id=int(r["id"]),
            advertiser_id=int(r["advertiser_id"]),
            currency=str(r["currency"]),
            window=timedelta(hours=int(r["attribution_window_hours"])),
            main_goal=str(r["main_goal"]),
            allow_payout_param=bool(r["allow_payout_param"]),
            pixels_count=pixels.pixels_count(
                str(r["pixel_policy"]),
                advertiser_authenticates=bool(r["advertiser_authenticates"]),
            ),
            pixel_status=str(r["pixel_status"]),
            max_amount=r["max_amount"],
            goals={
                str(r["main_goal"]): GoalRule(
                    r["revenue_type"],
                    r["revenue_value"],
                    r["payout_type"],
                    r["payout_value"],
                    bool(r["main_goal_multiple"]),
                )
            },
        )
        for r in rows
    }
    for g in goals:
        offer = offers.get(int(g["offer_id"]))
        if offer is not None:
            offer.goals[str(g["name"])] = GoalRule(
                g["revenue_type"],
                g["revenue_value"],
                g["payout_type"],
                g["payout_value"],
                bool(g["allow_multiple"]),
            )
    return offers


def _received_at(rec: ConversionRecord) -> datetime:
    seconds, micros = divmod(rec.received_us, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def unattributed_row(
    rec: ConversionRecord, advertiser_id: int, offer: Offer | None, reason: str | None
) -> Row:
    goal = rec.event or (offer.main_goal if offer else "conversion")
    currency = rec.currency or (offer.currency if offer else "USD")
    row: Row = dict.fromkeys(queries.INSERT_COLUMNS)
    row.update(
        advertiser_id=advertiser_id,
        txid=rec.txid or default_txid(rec.click_id, goal),
        click_id=rec.click_id,
        goal=goal,
        status="unattributed",
        reason=reason,
        amount=rec.amount,
        amount_currency=rec.currency or currency,
        currency=currency,
        revenue=Decimal(0),
        payout=Decimal(0),
        via=rec.via,
        received_at=_received_at(rec),
        status_at=_received_at(rec),
    )
    return row


def attributed_row(
    rec: ConversionRecord,
    click: asyncpg.Record,
    offer: Offer,
    override: tuple[str, Decimal] | None,
) -> Row:
    """The conversion of a record whose click is known: money by rule, window, goal."""
    if rec.advertiser_id is not None and rec.advertiser_id != offer.advertiser_id:
        # The click belongs to another advertiser's offer: crediting it would pay an
        # affiliate for someone else's sale. Kept, but attributed to nobody.
        return unattributed_row(rec, rec.advertiser_id, None, "advertiser")
    goal = rec.event or offer.main_goal
    rule = offer.goals.get(goal)
    amount_currency = rec.currency or offer.currency
    reason: str | None = None
    revenue = payout = Decimal(0)
    if rule is None:
        reason = "goal"
    elif pixels.amount_refused(
        rec.amount,
        currency=amount_currency,
        offer_currency=offer.currency,
        max_amount=offer.max_amount,
    ):
        reason = "amount"
    else:
        payout_rule = (rule.payout_type, rule.payout_value)
        if override is not None and goal == offer.main_goal:
            payout_rule = override
        use_param = rec.payout is not None and offer.allow_payout_param and rec.via == "postback"
        needs_amount = rule.revenue_type == "percent" or (
            payout_rule[0] == "percent" and not use_param
        )
        # Money in another currency than the offer's needs a rate table we do not have.
        if amount_currency != offer.currency and (needs_amount or use_param):
            reason = "currency"
        else:
            revenue = by_rule(
                rule.revenue_type, rule.revenue_value, amount=rec.amount, currency=offer.currency
            )
            if use_param:
                assert rec.payout is not None
                payout = round_money(rec.payout, offer.currency)
            else:
                payout = by_rule(
                    payout_rule[0], payout_rule[1], amount=rec.amount, currency=offer.currency
                )
    received_at = _received_at(rec)
    if reason is None and received_at > click["clicked_at"] + offer.window:
        reason = "window"
    row: Row = dict.fromkeys(queries.INSERT_COLUMNS)
    row.update(
        advertiser_id=offer.advertiser_id,
        txid=rec.txid or default_txid(rec.click_id, goal),
        click_id=rec.click_id,
        clicked_at=click["clicked_at"],
        link_id=click["link_id"],
        affiliate_id=click["affiliate_id"],
        offer_id=click["offer_id"],
        goal=goal,
        # A browser's word on the status is not taken: the offer's pixel_status is.
        status="rejected" if reason else offer.pixel_status if rec.via == "pixel" else rec.status,
        reason=reason,
        amount=rec.amount,
        amount_currency=amount_currency,
        currency=offer.currency,
        revenue=revenue,
        payout=payout,
        **{name: click[name] for name in (*SUB_IDS, "source", "aff_click_id")},
        country=click["country"],
        device=click["device"],
        os=click["os"],
        browser=click["browser"],
        via=rec.via,
        received_at=received_at,
        status_at=received_at,
    )
    return row


# --- effects: rollups and outbox ---------------------------------------------------


def _contribution(status: str, row: Row) -> tuple[int, int, int, Decimal, Decimal]:
    if status == "approved":
        return 1, 0, 0, row["revenue"], row["payout"]
    if status == "pending":
        return 0, 1, 0, Decimal(0), Decimal(0)
    if status == "rejected":
        return 0, 0, 1, Decimal(0), Decimal(0)
    return 0, 0, 0, Decimal(0), Decimal(0)  # unattributed: in no affiliate's stats


class Rollups:
    def __init__(self) -> None:
        self._deltas: dict[tuple[Any, ...], list[Any]] = {}

    def move(self, row: Row, old: str | None, new: str) -> None:
        if row["affiliate_id"] is None:
            return
        key = (
            bucket_of(row["created_at"]),
            row["affiliate_id"],
            row["offer_id"],
            row["link_id"],
            row["country"] or "",
            row["device"] or "",
            row["os"] or "",
            row["browser"] or "",
            row["currency"],
        )
        delta = self._deltas.setdefault(key, [0, 0, 0, Decimal(0), Decimal(0)])
        if old is not None:
            for i, v in enumerate(_contribution(old, row)):
                delta[i] -= v
        for i, v in enumerate(_contribution(new, row)):
            delta[i] += v

    async def write(self, conn: Connection) -> None:
        rows = sorted((k, d) for k, d in self._deltas.items() if any(d))
        if not rows:
            return
        columns: list[list[Any]] = [[] for _ in range(14)]
        for key, delta in rows:
            for i, value in enumerate((*key, *delta)):
                columns[i].append(value)
        await conn.execute(queries.UPSERT_ROLLUPS, *columns)


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


async def _affiliates(conn: Connection, ids: set[int]) -> dict[int, asyncpg.Record]:
    if not ids:
        return {}
    rows = await conn.fetch(queries.AFFILIATES, list(ids))
    return {int(r["id"]): r for r in rows}


async def _write_history(conn: Connection, items: list[tuple[int, str | None, str, str]]) -> None:
    if items:
        await conn.execute(queries.INSERT_HISTORY, *map(list, zip(*items, strict=True)))


# --- the worker handler ------------------------------------------------------------


def _pixel_claimed(current: Row, row: Row, rec: ConversionRecord) -> bool:
    """Whether a postback finds its txid held by a pixel conversion of another click, or
    of its click with another amount (the browser's amount is not the advertiser's)."""
    return (
        rec.via != "pixel"
        and current.get("via") == "pixel"
        and current["click_id"] is not None
        and row.get("click_id") is not None
        and (
            row["click_id"] != current["click_id"]
            or (
                rec.amount is not None
                and (rec.amount, row["amount_currency"])
                != (current["amount"], current["amount_currency"])
            )
        )
    )


@dataclass
class Outcome:
    stored: int = 0
    deferred: list[ConversionRecord] = field(default_factory=list)
    poison: list[tuple[str, str]] = field(default_factory=list)
    # (entry ID, reason): pixels acked without a row (see app/attribution/pixels.py).
    discarded: list[tuple[str, str]] = field(default_factory=list)


class Attributor:
    """The conversions stream's handler, and the mover of due retries."""

    def __init__(self, pool: Pool, redis: Redis, settings: Settings) -> None:
        self._pool = pool
        self._redis = redis
        self._settings = settings
        self._streams = keys.shard_keys(keys.CONVERSIONS, settings.stream_shards)
        self._move = redis.register_script(MOVE_DUE)
        self.deferred = 0
        self.unattributed = 0
        self.discarded: dict[str, int] = {}

    async def handle(self, entries: list[Entry]) -> BatchOutcome:
        result = BatchOutcome()
        records: list[tuple[str, ConversionRecord]] = []
        for entry_id, raw in entries:
            try:
                records.append((entry_id, decode(raw)))
            except PoisonRecord as exc:
                result.poison.append((entry_id, str(exc)))
        if not records:
            return result
        try:
            outcome = await self._attribute_retrying(records)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
            logger.warning("a batch of %d conversions was refused; one by one", len(records))
            outcome = Outcome()
            for entry_id, rec in records:
                try:
                    one = await self._attribute_retrying([(entry_id, rec)])
                except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
                    outcome.poison.append((entry_id, f"{type(exc).__name__}: {exc}"))
                    continue
                outcome.stored += one.stored
                outcome.deferred += one.deferred
                outcome.poison += one.poison
                outcome.discarded += one.discarded
        result.inserted = outcome.stored
        result.poison += outcome.poison
        # Discarded pixels are counted by the ack that settles their entries.
        result.settled += [(entry_id, DISCARDED) for entry_id, _ in outcome.discarded]
        for _, reason in outcome.discarded:
            self.discarded[reason] = self.discarded.get(reason, 0) + 1
        # Deferred records go to the retry set in the same script call as their ack (the
        # worker's), so a crash in between cannot leave one both pending and retrying.
        # Records are the decoded objects themselves: their identity gives their entry.
        entry_of = {id(rec): entry_id for entry_id, rec in records}
        now = time.time()
        result.retry = [self._retry(entry_of[id(rec)], rec, now) for rec in outcome.deferred]
        self.deferred += len(result.retry)
        return result

    def _retry(self, entry_id: str, rec: ConversionRecord, now: float) -> tuple[str, bytes, float]:
        delay = min(
            # The exponent is capped: 2**1024 overflows a float.
            self._settings.attribution_retry_base_s * 2 ** min(rec.attempts, 32),
            self._settings.attribution_retry_max_s,
        )
        # The entry ID makes the member unique: two identical postbacks stay two retries.
        member = orjson.dumps({**orjson.loads(rec.retried().encode()), "e": entry_id})
        return entry_id, member, now + delay

    async def move_due_retries(self, now: float | None = None) -> int:
        """Put retries that are due back onto their stream; how many moved."""
        moved = 0
        due = time.time() if now is None else now
        for stream in self._streams:
            while True:
                count = int(
                    await self._move(keys=[keys.retry_key(stream), stream], args=[due, MOVE_BATCH])
                )
                moved += count
                if count < MOVE_BATCH:
                    break
        return moved

    async def _attribute_retrying(self, records: list[tuple[str, ConversionRecord]]) -> Outcome:
        for attempt in range(DEADLOCK_RETRIES):
            try:
                return await self._attribute(records)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                # The click worker's rollup upserts can cross ours; the loser retries.
                if attempt == DEADLOCK_RETRIES - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _attribute(self, records: list[tuple[str, ConversionRecord]]) -> Outcome:
        outcome = Outcome()
        async with self._pool.acquire() as conn, conn.transaction():
            now: datetime = await conn.fetchval(queries.NOW)
            ids = list({rec.click_id for _, rec in records})
            found = await conn.fetch(queries.FIND_CLICKS, ids, [click_time(i) for i in ids])
            clicks = {r["click_id"]: r for r in found}
            deadline = timedelta(seconds=self._settings.attribution_deadline_s)
            pixel_deadline = timedelta(seconds=self._settings.pixel_deadline_s)
            known: list[tuple[str, ConversionRecord]] = []
            lost: list[tuple[str, ConversionRecord]] = []
            for entry_id, rec in records:
                if rec.click_id in clicks:
                    known.append((entry_id, rec))
                elif rec.via == "pixel":
                    # Never kept as unattributed: anyone could mint those with made-up IDs.
                    if now - _received_at(rec) >= pixel_deadline:
                        outcome.discarded.append((entry_id, pixels.UNKNOWN_CLICK))
                    else:
                        outcome.deferred.append(rec)
                elif now - _received_at(rec) >= deadline:
                    lost.append((entry_id, rec))
                else:
                    outcome.deferred.append(rec)
            offer_ids = {int(clicks[rec.click_id]["offer_id"]) for _, rec in known}
            offer_ids |= {rec.offer_id for _, rec in lost if rec.offer_id is not None}
            offers = await self._load_offers(conn, offer_ids)
            affiliate_ids = {int(clicks[rec.click_id]["affiliate_id"]) for _, rec in known}
            overrides = {
                (int(r["offer_id"]), int(r["affiliate_id"])): (
                    str(r["payout_type"]),
                    r["payout_value"],
                )
                for r in await conn.fetch(queries.OVERRIDES, list(offer_ids), list(affiliate_ids))
            }
            candidates: list[tuple[Row, ConversionRecord, bool]] = []
            for entry_id, rec in known:
                click = clicks[rec.click_id]
                offer = offers.get(int(click["offer_id"]))
                if offer is None:  # the offer was deleted; the click still names it
                    if rec.advertiser_id is None:
                        outcome.discarded.append((entry_id, pixels.NO_OFFER))
                    else:
                        row = unattributed_row(rec, rec.advertiser_id, None, "offer")
                        candidates.append((row, rec, False))
                    continue
                if rec.via == "pixel" and not offer.pixels_count:
                    outcome.discarded.append((entry_id, pixels.REFUSED))
                    continue
                override = overrides.get((offer.id, int(click["affiliate_id"])))
                row = attributed_row(rec, click, offer, override)
                rule = offer.goals.get(row["goal"])
                candidates.append((row, rec, rule is not None and not rule.allow_multiple))
            for entry_id, rec in lost:
                offer = offers.get(rec.offer_id) if rec.offer_id is not None else None
                advertiser_id = rec.advertiser_id or (offer.advertiser_id if offer else None)
                if advertiser_id is None:
                    outcome.poison.append(
                        (entry_id, "a pixel for a click never stored, naming no known offer")
                    )
                    continue
                candidates.append((unattributed_row(rec, advertiser_id, offer, None), rec, False))
            if candidates:
                outcome.stored = await self._write(
                    conn, now, candidates, offers, superseded=outcome.deferred
                )
                self.unattributed += sum(
                    1 for row, _, _ in candidates if row["status"] == "unattributed"
                )
        return outcome

    async def _load_offers(self, conn: Connection, offer_ids: set[int]) -> dict[int, Offer]:
        if not offer_ids:
            return {}
        listed = list(offer_ids)
        offers = _offers(
            await conn.fetch(queries.OFFERS, listed), await conn.fetch(queries.GOALS, listed)
        )
        for cap in await conn.fetch(queries.CONVERSION_CAPS, listed):
            offers[int(cap["offer_id"])].caps.append(cap)
        return offers

    async def _write(
        self,
        conn: Connection,
        now: datetime,
        candidates: list[tuple[Row, ConversionRecord, bool]],
        offers: dict[int, Offer],
        *,
        superseded: list[ConversionRecord],
    ) -> int:
        """Store a batch's conversions and status changes; records to try again later go
        to `superseded`."""
        locks = {lock_key("txid", row["advertiser_id"], row["txid"]) for row, _, _ in candidates}
        capped = {
            row["offer_id"]
            for row, _, _ in candidates
            if row["offer_id"] is not None and offers[row["offer_id"]].caps
        }
        locks |= {lock_key("caps", offer_id) for offer_id in capped}
        single = [row for row, _, one in candidates if one]
        locks |= {lock_key("click", row["click_id"], row["goal"]) for row in single}
        await conn.fetchval(queries.LOCK_KEYS, sorted(locks))

        pairs = sorted({(row["advertiser_id"], row["txid"]) for row, _, _ in candidates})
        existing = await conn.fetch(
            queries.EXISTING_BY_TXID, [p[0] for p in pairs], [p[1] for p in pairs]
        )
        state: dict[tuple[int, str], Row] = {
            (int(r["advertiser_id"]), str(r["txid"])): dict(r) for r in existing
        }
        taken: set[tuple[uuid.UUID, str]] = set()
        if single:
            taken = {
                (r["click_id"], str(r["goal"]))
                for r in await conn.fetch(
                    queries.CLICK_GOAL_TAKEN, list({row["click_id"] for row in single})
                )
            }
        used: dict[int, int] = {}
        for offer_id in sorted(capped):
            for cap in offers[offer_id].caps:
                used[int(cap["id"])] = await conn.fetchval(
                    queries.CAP_USED,
                    offer_id,
                    cap["affiliate_id"],
                    period_start(now, str(cap["period"])),
                )

        batch = Batch()
        freed: set[tuple[int, str]] = set()
        for row, rec, one_per_click in candidates:
            key = (int(row["advertiser_id"]), str(row["txid"]))
            if key in freed:
                # After its txid was taken back from a pixel below: in a later batch.
                superseded.append(rec)
                continue
            current = state.get(key)
            if current is not None and _pixel_claimed(current, row, rec):
                # The advertiser's own (authenticated) postback names another click (or
                # amount) than a browser pixel did for the same order: the server is the
                # authority. The
                # pixel's conversion is reversed and gives up the txid; this postback goes
                # around again and is then recorded as a conversion of its own click.
                old = current["status"]
                current["status"], current["reason"] = "rejected", "superseded"
                current["status_at"] = _received_at(rec)
                batch.changes.append((key, old, "rejected", rec.via))
                batch.events.append((key, old, "rejected", rec.via))
                freed.add(key)
                superseded.append(rec)
                continue
            if current is None:
                row["created_at"] = now
                if row["status"] in COUNTED:
                    self._admit(row, one_per_click, taken, offers, used)
                state[key] = row
                batch.creates.append(row)
                batch.events.append((key, None, row["status"], rec.via))
                continue
            # A repeat: same status, a pixel (the browser may not change a status), a
            # conversion the tracker itself rejected (window, cap, ...) or one without a
            # click, or a status sent before the one in force (it overtook a later one
            # on another shard or worker): nothing changes. Otherwise it is a status
            # change (a reversal).
            sent_at = _received_at(rec)
            if (
                rec.via == "pixel"
                or current["status"] == "unattributed"
                or current["reason"] is not None
                or (current["status_at"] is not None and sent_at <= current["status_at"])
            ):
                continue
            if current["status"] == rec.status:
                # The same status sent again, later: it is now the one in force, so an
                # older change that is still on its way cannot undo it.
                current["status_at"] = sent_at
                batch.touched.add(key)
                continue
            old = current["status"]
            if old not in COUNTED and rec.status in COUNTED and current["offer_id"] is not None:
                # Coming back (rejected -> approved) is counted like a new conversion: it
                # may not pass a cap or take a one-per-click goal already used.
                probe = {**current, "status": rec.status, "reason": None}
                self._admit(probe, one_per_click, taken, offers, used)
                if probe["status"] == "rejected":
                    current["reason"], current["status_at"] = probe["reason"], sent_at
                    batch.touched.add(key)
                    continue
            current["status"], current["status_at"] = rec.status, sent_at
            batch.changes.append((key, old, rec.status, rec.via))
            batch.events.append((key, old, rec.status, rec.via))

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
            await conn.execute(
                queries.UPDATE_STATUSES,
                list(final),
                [r["status"] for r in final.values()],
                [r["reason"] for r in final.values()],
                [r["status_at"] for r in final.values()],
            )
        if freed:
            await conn.execute(queries.FREE_TXIDS, [state[k]["id"] for k in sorted(freed)])
        if not batch.events:
            return 0
        affiliates = await _affiliates(
            conn,
            {int(state[k]["affiliate_id"]) for k, *_ in batch.events if state[k]["affiliate_id"]},
        )
        events = [(state[k], old, new, by) for k, old, new, by in batch.events]
        await apply_effects(conn, events, affiliates)
        return len(batch.events)

    @staticmethod
    def _admit(
        row: Row,
        one_per_click: bool,
        taken: set[tuple[uuid.UUID, str]],
        offers: dict[int, Offer],
        used: dict[int, int],
    ) -> None:
        """Reject a new conversion over a one-per-click goal or a cap, else count it."""
        if one_per_click and (row["click_id"], row["goal"]) in taken:
            row["status"], row["reason"] = "rejected", "duplicate"
            return
        caps = [
            cap
            for cap in offers[row["offer_id"]].caps
            if cap["affiliate_id"] is None or cap["affiliate_id"] == row["affiliate_id"]
        ]
        if any(used[int(cap["id"])] >= cap["cap_limit"] for cap in caps):
            row["status"], row["reason"] = "rejected", "cap"
            return
        for cap in caps:
            used[int(cap["id"])] += 1
        if one_per_click:
            taken.add((row["click_id"], row["goal"]))


async def apply_effects(
    conn: Connection,
    events: list[tuple[Row, str | None, str, str]],
    affiliates: dict[int, asyncpg.Record],
) -> None:
    """History, rollups and outbox of creations (old None) and status changes, in order."""
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


# --- status changes by hand (the API) ----------------------------------------------


async def change_status(
    pool: Pool, *, conversion_id: int, status: str, changed_by: str
) -> asyncpg.Record:
    """Set a conversion's status by hand, with the effects of a status-changing postback."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(queries.GET_CONVERSION, conversion_id)
        if row is None:
            raise NotFound(f"conversion {conversion_id} does not exist")
        await conn.fetchval(
            queries.LOCK_KEYS, [lock_key("txid", row["advertiser_id"], row["txid"])]
        )
        locked = await conn.fetchrow(queries.GET_CONVERSION_FOR_UPDATE, conversion_id)
        assert locked is not None
        current = dict(locked)
        if current["status"] == "unattributed":
            raise Conflict("an unattributed conversion has no click to credit", code="unattributed")
        if current["status"] == status:
            return locked
        old = current["status"]
        # A hand decision replaces the tracker's own reason (window, cap, ...).
        current["status"], current["reason"] = status, None
        now: datetime = await conn.fetchval(queries.NOW)
        await conn.execute(queries.UPDATE_STATUSES, [conversion_id], [status], [None], [now])
        affiliates = await _affiliates(conn, {int(current["affiliate_id"])})
        await apply_effects(conn, [(current, old, status, changed_by)], affiliates)
        updated = await conn.fetchrow(queries.GET_CONVERSION, conversion_id)
        assert updated is not None
        return updated


# --- reading (the API) -------------------------------------------------------------


async def get_conversion(pool: Pool, *, conversion_id: int) -> asyncpg.Record:
    row = await pool.fetchrow(queries.GET_CONVERSION, conversion_id)
    if row is None:
        raise NotFound(f"conversion {conversion_id} does not exist")
    return row


async def list_conversions(
    pool: Pool,
    *,
    after: int,
    limit: int,
    start: datetime | None,
    end: datetime | None,
    affiliate_id: int | None,
    offer_id: int | None,
    status: str | None,
    event: str | None,
) -> list[asyncpg.Record]:
    return await pool.fetch(
        queries.LIST_CONVERSIONS, after, limit, start, end, affiliate_id, offer_id, status, event
    )
