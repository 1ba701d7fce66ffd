"""Group evaluation: each active affiliate moves to the highest-ranked group whose
promotion rule it meets, and down when its group's rule says `demote` and it falls short.

A rule's metric is summed from the daily rollups (stats_rollup_daily_links, the same
numbers /stats shows) over the last `window_days` UTC days, today included: clicks,
approved conversions, or revenue or payout in the rule's currency. Groups without a
promotion rule are never a target (an admin puts affiliates there), and their members
only move up. Runs on POST /api/v1/groups/evaluate and once a day in the worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import asyncpg
from pydantic import BaseModel
from redis.asyncio import Redis

from app.db import Pool
from app.ops import daily
from app.partners import queries
from app.partners.history import GROUP_EVALUATION, SYSTEM, Actor, Change, group_value, record

logger = logging.getLogger(__name__)

DAILY_KEY = "groups:evaluated:{day}"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('tracker-group-evaluation'))"


class Move(BaseModel):
    affiliate_id: int
    from_group_id: int | None
    to_group_id: int | None
    direction: str  # "up" or "down"


class EvaluationOut(BaseModel):
    evaluated_at: datetime
    affiliates: int
    moves: list[Move]


@dataclass(frozen=True, slots=True)
class _Group:
    id: int
    rank: int
    metric: str | None
    window_days: int | None
    minimum: Decimal | None
    currency: str | None
    demote: bool


Sums = dict[tuple[int, str | None], dict[int, dict[str, Decimal]]]


def _met_by(group: _Group, sums: Sums) -> set[int]:
    """The affiliates whose sums over the group's window reach its minimum."""
    assert group.metric is not None
    assert group.window_days is not None
    assert group.minimum is not None
    window = sums[(group.window_days, group.currency)]
    return {a for a, m in window.items() if m[group.metric] >= group.minimum}


def _group(r: asyncpg.Record) -> _Group:
    return _Group(
        id=int(r["id"]),
        rank=int(r["rank"]),
        metric=r["promotion_metric"],
        window_days=r["promotion_window_days"],
        minimum=r["promotion_min"],
        currency=r["promotion_currency"],
        demote=bool(r["promotion_demote"]),
    )


async def evaluate(
    pool: Pool, *, today: date | None = None, actor: Actor = SYSTEM
) -> EvaluationOut:
    """Move every active affiliate as its groups' rules say, in one transaction."""
    day = today or datetime.now(UTC).date()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_LOCK)
        groups = [_group(r) for r in await conn.fetch(queries.ALL_GROUPS)]
        by_id = {g.id: g for g in groups}
        ruled = [g for g in groups if g.metric is not None]  # rank descending
        affiliates = await conn.fetch(queries.EVALUATED_AFFILIATES)
        metrics: Sums = {}
        for g in ruled:
            assert g.window_days is not None
            if (g.window_days, g.currency) in metrics:
                continue
            since = datetime.combine(day - timedelta(days=g.window_days - 1), time(), UTC)
            rows = await conn.fetch(queries.AFFILIATE_METRICS, since, g.currency or "")
            metrics[(g.window_days, g.currency)] = {
                int(r["affiliate_id"]): {
                    name: Decimal(r[name])
                    for name in ("clicks", "approved_conversions", "revenue", "payout")
                }
                for r in rows
            }
        zero = {"clicks": Decimal(0), "approved_conversions": Decimal(0)}
        zero |= {"revenue": Decimal(0), "payout": Decimal(0)}
        for sums in metrics.values():
            for a in affiliates:
                sums.setdefault(int(a["id"]), zero)
        met = {g.id: _met_by(g, metrics) for g in ruled}
        moves: list[Move] = []
        for a in affiliates:
            affiliate_id, current_id = int(a["id"]), a["group_id"]
            current = by_id.get(current_id) if current_id is not None else None
            target = next((g for g in ruled if affiliate_id in met[g.id]), None)
            to: _Group | None
            if target is not None and (current is None or target.rank > current.rank):
                to, direction = target, "up"
            elif (
                current is not None
                and current.metric is not None
                and current.demote
                and affiliate_id not in met[current.id]
            ):
                to, direction = target, "down"
            else:
                continue
            to_id = to.id if to else None
            moves.append(
                Move(
                    affiliate_id=affiliate_id,
                    from_group_id=current_id,
                    to_group_id=to_id,
                    direction=direction,
                )
            )
        for m in moves:
            await conn.execute(queries.SET_GROUP, m.affiliate_id, m.to_group_id)
        await record(
            conn,
            actor,
            [
                Change(
                    m.affiliate_id,
                    "group",
                    group_value(m.from_group_id),
                    group_value(m.to_group_id),
                    GROUP_EVALUATION,
                )
                for m in moves
            ],
        )
        evaluated_at: datetime = await conn.fetchval("SELECT now()")
    return EvaluationOut(evaluated_at=evaluated_at, affiliates=len(affiliates), moves=moves)


async def evaluate_daily(pool: Pool, redis: Redis) -> EvaluationOut | None:
    """Today's evaluation, if no worker has run it yet: a Redis key per UTC day, set only
    by the one worker that runs it (and dropped again when that run fails)."""
    day = datetime.now(UTC).date()
    key = DAILY_KEY.format(day=day.isoformat())
    result = await daily.run_once(
        redis, key, keep_s=2 * 86400, what="group evaluation", job=lambda: evaluate(pool, today=day)
    )
    if result is None:
        return None
    logger.info("group evaluation: %d moves", len(result.moves))
    return result
