"""The conversions stream's handler: records -> candidates -> one transaction per batch.

A conversion whose click is not stored yet goes to a retry set (a Redis sorted set by
due time, on the shard's hash tag) with exponential backoff, and comes back onto the
stream when due; past the deadline it is stored as `unattributed`. Nothing is dropped:
entries that are not conversion records go to the dead-letter stream. A batch that
PostgreSQL refuses raises: the stream consumer (app/streams) retries it entry by entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import cast

import asyncpg
import orjson
from redis.asyncio import Redis

from app.attribution import pixels, queries, rules, writer
from app.attribution.decision import Candidate
from app.caps import conversions as conversion_caps
from app.clickid import click_time
from app.customers import attribution as customer_attribution
from app.db import Connection, Pool, retrying
from app.postbacks.records import ConversionRecord, decode
from app.settings import Settings
from app.streams import keys
from app.streams.outcome import DISCARDED, BatchOutcome
from app.streams.records import PoisonRecord

Entry = tuple[str, bytes]
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


@dataclass
class Attributed:
    """What attributing a batch of records came to."""

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
        outcome = await self._attribute_retrying(records)
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

    async def _attribute_retrying(self, records: list[tuple[str, ConversionRecord]]) -> Attributed:
        # The click worker's rollup upserts can cross ours; the loser retries.
        return await retrying(
            lambda: self._attribute(records), also=(customer_attribution.CustomerConflict,)
        )

    async def _attribute(self, records: list[tuple[str, ConversionRecord]]) -> Attributed:
        outcome = Attributed()
        async with self._pool.acquire() as conn, conn.transaction():
            now: datetime = await conn.fetchval(queries.NOW)
            ids = list({rec.click_id for _, rec in records if rec.click_id is not None})
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
                    if now - rules.received_at(rec) >= pixel_deadline:
                        outcome.discarded.append((entry_id, pixels.UNKNOWN_CLICK))
                    else:
                        outcome.deferred.append(rec)
                elif rec.click_id is None or now - rules.received_at(rec) >= deadline:
                    # No click (a coupon or customer names the affiliate), or it never came.
                    lost.append((entry_id, rec))
                else:
                    outcome.deferred.append(rec)
            offer_ids = {int(clicks[rec.click_id]["offer_id"]) for _, rec in known}
            offer_ids |= {rec.offer_id for _, rec in lost if rec.offer_id is not None}
            offers = await _offers(conn, offer_ids)
            items: list[tuple[ConversionRecord, int | None, asyncpg.Record | None]] = [
                (rec, _advertiser(rec, offers.get(int(click["offer_id"]))), click)
                for _, rec in known
                for click in (clicks[rec.click_id],)
            ]
            items += [(rec, rec.advertiser_id, None) for _, rec in lost]
            affiliate_ids = {int(clicks[rec.click_id]["affiliate_id"]) for _, rec in known}
            ctx = await customer_attribution.CustomerBatch.open(conn, items)
            if ctx is not None:
                offers |= await _offers(conn, ctx.offer_ids - set(offers))
                await ctx.load_terms(conn, offers, affiliate_ids)
                affiliate_ids |= ctx.affiliate_ids
            caps = await conversion_caps.load(conn, list(offers))
            overrides = {
                (int(r["offer_id"]), int(r["affiliate_id"])): (
                    str(r["payout_type"]),
                    r["payout_value"],
                )
                for r in await conn.fetch(queries.OVERRIDES, list(offers), list(affiliate_ids))
            }
            groups = rules.groups_from(
                await conn.fetch(queries.GROUP_TERMS, list(affiliate_ids), list(offers))
            )
            candidates: list[Candidate] = []
            # In stream order: a record sees the bindings made by those before it.
            kinds = {id(rec): True for _, rec in known} | {id(rec): False for _, rec in lost}
            for entry_id, rec in records:
                if id(rec) not in kinds:
                    continue
                if not kinds[id(rec)]:
                    credit = ctx.credit(rec, None, offers) if ctx is not None else None
                    if isinstance(credit, customer_attribution.Credit):
                        candidates.append(_credited(ctx, rec, credit, offers, overrides, groups))
                        continue
                    offer = offers.get(rec.offer_id) if rec.offer_id is not None else None
                    advertiser_id = rec.advertiser_id or (offer.advertiser_id if offer else None)
                    if advertiser_id is None:
                        outcome.poison.append(
                            (entry_id, "a pixel for a click never stored, naming no known offer")
                        )
                        continue
                    if offer is not None and offer.advertiser_id != advertiser_id:
                        offer = None  # another advertiser's offer is no guide to this one's
                    row = rules.unattributed_row(rec, advertiser_id, offer, credit)
                    if ctx is not None:
                        ctx.settle_unattributed(row, rec)
                    candidates.append(Candidate(row, rec, False))
                    continue
                click = clicks[rec.click_id]
                offer = offers.get(int(click["offer_id"]))
                if offer is None:  # the offer was deleted; the click still names it
                    if rec.advertiser_id is None:
                        outcome.discarded.append((entry_id, pixels.NO_OFFER))
                    else:
                        row = rules.unattributed_row(rec, rec.advertiser_id, None, "offer")
                        candidates.append(Candidate(row, rec, False))
                    continue
                if rec.via == "pixel" and not offer.pixels_count:
                    outcome.discarded.append((entry_id, pixels.REFUSED))
                    continue
                credit = ctx.credit(rec, click, offers) if ctx is not None else None
                if isinstance(credit, customer_attribution.Credit) and (
                    rec.advertiser_id in (None, offer.advertiser_id)
                ):
                    candidates.append(_credited(ctx, rec, credit, offers, overrides, groups))
                    continue
                override = overrides.get((offer.id, int(click["affiliate_id"])))
                group = groups.get(int(click["affiliate_id"]))
                row = rules.attributed_row(rec, click, offer, override, group)
                if ctx is not None:
                    ctx.mark(row)
                candidates.append(Candidate(row, rec, rules.one_per_click(offer, row["goal"])))
            if candidates:
                for row, rec, _ in candidates:
                    row["recurring"] = bool(row["recurring"])
                    row["attributed_via"] = row["attributed_via"] or (
                        "pixel" if rec.via == "pixel" else "click"
                    )
                outcome.stored = await writer.write_batch(
                    conn, now, candidates, caps, superseded=outcome.deferred
                )
                if ctx is not None:
                    await ctx.write(conn)
                self.unattributed += sum(
                    1 for row, _, _ in candidates if row["status"] == "unattributed"
                )
        return outcome


def _advertiser(rec: ConversionRecord, offer: rules.Offer | None) -> int | None:
    """Whose customer a record names: the postback's advertiser, a pixel's click's."""
    if rec.advertiser_id is not None:
        return rec.advertiser_id
    return offer.advertiser_id if offer is not None else None


def _credited(
    ctx: customer_attribution.CustomerBatch | None,
    rec: ConversionRecord,
    credit: customer_attribution.Credit,
    offers: dict[int, rules.Offer],
    overrides: dict[tuple[int, int], tuple[str, Decimal]],
    groups: dict[int, rules.GroupTerms],
) -> Candidate:
    """The conversion of a record credited by click, coupon or customer binding."""
    assert ctx is not None
    listed = offers[credit.offer_id]
    offer, override = ctx.money_rules(
        credit, listed, overrides.get((credit.offer_id, credit.affiliate_id))
    )
    # A recurring conversion priced by the offer's recurring_payout (money_rules gave the
    # offer with its main goal's payout replaced) is not its group's: a group's rule is
    # the affiliate's rate for a first purchase, as the offer's payout is.
    group = None if offer is not listed else groups.get(credit.affiliate_id)
    # A click-shaped mapping: the click itself, or the coupon's or customer's binding.
    row = rules.attributed_row(rec, cast(asyncpg.Record, credit.source), offer, override, group)
    ctx.settle(row, credit, rec)
    by_click = credit.via in ("click", "pixel")
    return Candidate(row, rec, by_click and rules.one_per_click(offer, row["goal"]))


async def _offers(conn: Connection, offer_ids: set[int]) -> dict[int, rules.Offer]:
    if not offer_ids:
        return {}
    listed = list(offer_ids)
    return rules.offers_from(
        await conn.fetch(queries.OFFERS, listed), await conn.fetch(queries.GOALS, listed)
    )
