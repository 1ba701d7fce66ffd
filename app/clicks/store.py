"""From stream records to rows: decode, enrich, mark unique, and store with rollups.

One transaction per batch: COPY into a temporary staging table, then one statement
inserts the new clicks (ON CONFLICT (click_id) DO NOTHING, so a replayed entry changes
nothing) and adds exactly those inserted rows to the 15-minute rollups.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from app.clickid import parse_click_id
from app.clicks import enrich
from app.db import Connection, Pool
from app.macros import SUB_IDS
from app.rollups import registry
from app.streams.outcome import BatchOutcome
from app.streams.records import PoisonRecord, load_record

logger = logging.getLogger(__name__)

UNIQUE_TTL_S = 2 * 86400
COLUMNS = (
    "click_id",
    "clicked_at",
    "link_id",
    "affiliate_id",
    "offer_id",
    *SUB_IDS,
    "source",
    "aff_click_id",
    "ip",
    "user_agent",
    "referer",
    "accept_language",
    "country",
    "device",
    "os",
    "browser",
    "is_bot",
    "is_unique",
    "diverted",
)

# clicks.currency (migration 0002) is the offer's currency at click time, the same one
# the rollups are keyed by, so reports from raw clicks agree with the rollups.
CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS click_stage
    (LIKE clicks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
ENSURE_PARTITION = "SELECT ensure_click_partitions($1::date, 1)"
INSERT_FROM_STAGE = f"""
WITH inserted AS (
    INSERT INTO clicks ({", ".join(COLUMNS)}, currency)
    SELECT {", ".join(COLUMNS)}, currency FROM click_stage
    ON CONFLICT DO NOTHING
    RETURNING click_id, clicked_at
), fresh AS (
    SELECT s.* FROM click_stage s JOIN inserted i USING (click_id, clicked_at)
), rolled AS (
    INSERT INTO stats_rollup AS r (bucket, affiliate_id, offer_id, link_id, country, device,
        os, browser, currency, clicks, unique_clicks, bot_clicks)
    SELECT {registry.bucket_sql("clicked_at")},
           affiliate_id, offer_id, link_id, coalesce(country, ''), coalesce(device, ''),
           coalesce(os, ''), coalesce(browser, ''), currency,
           count(*) FILTER (WHERE NOT is_bot),
           count(*) FILTER (WHERE is_unique AND NOT is_bot),
           count(*) FILTER (WHERE is_bot)
    FROM fresh
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
    DO UPDATE SET clicks = r.clicks + EXCLUDED.clicks,
                  unique_clicks = r.unique_clicks + EXCLUDED.unique_clicks,
                  bot_clicks = r.bot_clicks + EXCLUDED.bot_clicks
)
SELECT count(*) FROM inserted
"""


@dataclass(slots=True)
class Click:
    row: list[Any]
    currency: str
    visitor: bytes


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PoisonRecord(f"expected text, got {type(value).__name__}")
    return value.replace("\x00", "\ufffd")


def _id(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PoisonRecord(f"bad {name}")
    return value


def decode(raw: bytes) -> Click:
    """A click from its stream record; PoisonRecord if it is not one."""
    rec = load_record(raw, "click")
    click_uuid: uuid.UUID | None = (
        parse_click_id(rec["id"]) if isinstance(rec.get("id"), str) else None
    )
    if click_uuid is None:
        raise PoisonRecord("bad click id")
    ms = rec.get("t")
    if not isinstance(ms, int) or ms != click_uuid.int >> 80:
        raise PoisonRecord("click time does not match its id")
    subs = rec.get("s") or {}
    if not isinstance(subs, dict):
        raise PoisonRecord("bad sub-ids")
    ip_text = _text(rec.get("ip")) or ""
    try:
        ip: str | None = str(ipaddress.ip_address(ip_text)) if ip_text else None
    except ValueError:
        ip = None
    user_agent = _text(rec.get("ua"))
    agent = enrich.describe_agent(user_agent or "")
    is_bot = agent.is_bot or bool(rec.get("h"))
    currency = rec.get("c") if isinstance(rec.get("c"), str) else "USD"
    link_id = _id(rec.get("l"), "link id")
    row = [
        click_uuid,
        datetime.fromtimestamp(ms / 1000, tz=UTC),
        link_id,
        _id(rec.get("a"), "affiliate id"),
        _id(rec.get("o"), "offer id"),
        *(_text(subs.get(name)) for name in SUB_IDS),
        _text(subs.get("source")),
        _text(subs.get("aff_click_id")),
        ip,
        user_agent,
        _text(rec.get("ref")),
        _text(rec.get("al")),
        enrich.country_of(ip) if ip else None,
        "bot" if is_bot else agent.device,
        agent.os,
        agent.browser,
        is_bot,
        False,
        _text(rec.get("d")),
    ]
    visitor = hashlib.blake2b(f"{link_id}|{ip}|{user_agent}".encode(), digest_size=12).digest()
    return Click(row=row, currency=str(currency)[:3], visitor=visitor)


async def mark_unique(redis: Redis, clicks: list[Click]) -> None:
    """First click of a visitor (IP + user agent) on a link per UTC day is unique.

    SET NX GET keeps the first click ID, so a replayed click finds its own ID and stays
    unique: the answer does not change on redelivery.
    """
    humans = [c for c in clicks if not c.row[COLUMNS.index("is_bot")]]
    if not humans:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for click in humans:
            day = click.row[1].strftime("%Y%m%d")
            key = b"uniq:" + day.encode() + b":" + click.visitor.hex().encode()
            pipe.set(key, click.row[0].bytes, nx=True, get=True, ex=UNIQUE_TTL_S)
        answers = await pipe.execute()
    unique_at = COLUMNS.index("is_unique")
    for click, previous in zip(humans, answers, strict=True):
        click.row[unique_at] = previous is None or previous == click.row[0].bytes


class ClickWriter:
    """Writes batches of clicks; keeps track of the day partitions known to exist."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._days: set[date] = set()

    async def _ensure_partitions(self, conn: Connection, clicks: list[Click]) -> None:
        for day in {c.row[1].date() for c in clicks} - self._days:
            await conn.execute(ENSURE_PARTITION, day)
            self._days.add(day)

    async def write(self, clicks: list[Click]) -> int:
        """Store a batch in one transaction; the count of clicks that were new."""
        if not clicks:
            return 0
        async with self._pool.acquire() as conn:
            await self._ensure_partitions(conn, clicks)
            async with conn.transaction():
                await conn.execute(CREATE_STAGE)
                await conn.copy_records_to_table(
                    "click_stage",
                    records=[(*c.row, c.currency) for c in clicks],
                    columns=[*COLUMNS, "currency"],
                )
                inserted: int = await conn.fetchval(INSERT_FROM_STAGE)
        return inserted


async def store_batch(
    writer: ClickWriter, redis: Redis, records: list[tuple[str, bytes]]
) -> BatchOutcome:
    """Store stream records: every entry is stored (a new row, or one already there) but
    the poison ones, listed with their error.

    A batch that PostgreSQL refuses for a data error is split and retried record by
    record, so one bad record cannot hold back the others.
    """
    outcome = BatchOutcome()
    good: list[tuple[str, Click]] = []
    for entry_id, raw in records:
        try:
            good.append((entry_id, decode(raw)))
        except PoisonRecord as exc:
            outcome.poison.append((entry_id, str(exc)))
    clicks = [c for _, c in good]
    await mark_unique(redis, clicks)
    try:
        outcome.inserted = await writer.write(clicks)
        return outcome
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError):
        logger.warning("a batch of %d clicks was refused; storing one by one", len(clicks))
    for entry_id, click in good:
        try:
            outcome.inserted += await writer.write([click])
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as exc:
            outcome.poison.append((entry_id, f"{type(exc).__name__}: {exc}"))
    return outcome
