"""From click records to rows: enrich, mark unique, and store with rollups.

One transaction per batch: COPY into a temporary staging table, then one statement
inserts the new clicks (ON CONFLICT (click_id) DO NOTHING, so a replayed entry changes
nothing) and adds exactly those inserted rows to the 15-minute rollups.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from redis.asyncio import Redis

from app.clicks import enrich, record
from app.clicks.record import ClickRecord
from app.db import Connection, Pool
from app.mail import service as mail_service
from app.rollups import registry

UNIQUE_TTL_S = 2 * 86400
COLUMNS = (
    "click_id",
    "clicked_at",
    "link_id",
    "affiliate_id",
    "offer_id",
    # In the order of ClickRecord.subs.
    *record.SUB_NAMES,
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

_OFFER, _AFFILIATE, _DIVERTED = (COLUMNS.index(n) for n in ("offer_id", "affiliate_id", "diverted"))

# clicks.currency (migration 0002) is the offer's currency at click time, the same one
# the rollups are keyed by, so reports from raw clicks agree with the rollups.
CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS click_stage
    (LIKE clicks INCLUDING DEFAULTS) ON COMMIT DELETE ROWS
"""
ENSURE_PARTITION = "SELECT ensure_click_partitions($1::date, 1)"
_ROLLED = (*registry.CLICK_METRICS, *registry.DIVERTED_METRICS)
# Diverted human clicks, by reason (registry.DIVERTED_METRICS); a bot's is a bot click.
_DIVERTED_COUNTS = ",\n           ".join(
    [
        "count(*) FILTER (WHERE diverted IS NOT NULL AND NOT is_bot)",
        *(
            f"count(*) FILTER (WHERE diverted = '{reason}' AND NOT is_bot)"
            for reason in registry.DIVERTED_REASONS
        ),
    ]
)
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
        os, browser, currency, {", ".join(_ROLLED)})
    SELECT {registry.bucket_sql("clicked_at")},
           affiliate_id, offer_id, link_id, coalesce(country, ''), coalesce(device, ''),
           coalesce(os, ''), coalesce(browser, ''), currency,
           count(*) FILTER (WHERE NOT is_bot),
           count(*) FILTER (WHERE is_unique AND NOT is_bot),
           count(*) FILTER (WHERE is_bot),
           {_DIVERTED_COUNTS}
    FROM fresh
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
    ON CONFLICT (bucket, affiliate_id, offer_id, link_id, country, device, os, browser, currency)
    DO UPDATE SET {", ".join(f"{m} = r.{m} + EXCLUDED.{m}" for m in _ROLLED)}
)
SELECT count(*) FROM inserted
"""
# An erased click may meet its own row with the personal data still in it: a worker held
# the entry from before the erasure and committed it meanwhile (app/privacy/streams.py).
# The erased entry then clears those columns; counts and dimensions stay as they are.
CLEAR_ERASED = """
UPDATE clicks SET ip = NULL, user_agent = NULL, referer = NULL, accept_language = NULL
FROM unnest($1::uuid[], $2::timestamptz[]) AS e (click_id, clicked_at)
WHERE clicks.click_id = e.click_id AND clicks.clicked_at = e.clicked_at
  AND (ip IS NOT NULL OR user_agent IS NOT NULL OR referer IS NOT NULL
       OR accept_language IS NOT NULL)
"""


@dataclass(slots=True)
class Click:
    row: list[Any]
    currency: str
    visitor: bytes
    # Enriched before its personal data was erased: uniqueness is already decided.
    erased: bool = False


def _identity(rec: ClickRecord) -> list[Any]:
    """The columns a click's row starts with, kept when the click is erased: its ID, time,
    link, affiliate, offer and sub IDs."""
    return [
        rec.click_id,
        datetime.fromtimestamp(rec.ms / 1000, tz=UTC),
        rec.link_id,
        rec.affiliate_id,
        rec.offer_id,
        *rec.subs.values(),
    ]


def click_from(rec: ClickRecord) -> Click:
    """A click's row: its record, enriched (an erased one as it was before erasure)."""
    if rec.erased is not None:
        return _erased_click(rec, rec.erased)
    agent = enrich.describe_agent(rec.user_agent or "")
    is_bot = agent.is_bot or rec.head
    row = [
        *_identity(rec),
        rec.ip,
        rec.user_agent,
        rec.referer,
        rec.accept_language,
        enrich.click_country(rec.ip) if rec.ip else None,
        "bot" if is_bot else agent.device,
        agent.os,
        agent.browser,
        is_bot,
        False,
        rec.diverted,
    ]
    visitor = hashlib.blake2b(
        f"{rec.link_id}|{rec.ip}|{rec.user_agent}".encode(), digest_size=12
    ).digest()
    return Click(row=row, currency=rec.currency, visitor=visitor)


def _erased_click(rec: ClickRecord, kept: record.Erased) -> Click:
    row = [
        *_identity(rec),
        None,
        None,
        None,
        None,
        kept.country,
        kept.device,
        kept.os,
        kept.browser,
        kept.is_bot,
        kept.is_unique,
        rec.diverted,
    ]
    return Click(row=row, currency=rec.currency, visitor=b"", erased=True)


def decode(raw: bytes) -> Click:
    """A click, enriched, from its stream record; PoisonRecord if it is not one."""
    return click_from(record.decode(raw))


async def mark_unique(redis: Redis, clicks: list[Click]) -> None:
    """First click of a visitor (IP + user agent) on a link per UTC day is unique.

    SET NX GET keeps the first click ID, so a replayed click finds its own ID and stays
    unique: the answer does not change on redelivery.
    """
    humans = [c for c in clicks if not c.row[COLUMNS.index("is_bot")] and not c.erased]
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
        # One row per click ID: a click Redis took after its budget ran out is spooled too,
        # and both copies may land in one batch; staged twice, it would be counted twice in
        # the rollups (they join the staged rows to those inserted). An erased copy wins.
        by_id: dict[Any, Click] = {}
        for click in clicks:
            if click.erased or click.row[0] not in by_id:
                by_id[click.row[0]] = click
        clicks = list(by_id.values())
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
                erased = [c.row[:2] for c in clicks if c.erased]
                if erased:
                    await conn.execute(CLEAR_ERASED, *map(list, zip(*erased, strict=True)))
                # A click a cap diverted: its affiliate hears once per period (a repeat
                # is one insert that does nothing; no statement while no cap refuses).
                capped = [
                    (c.row[_OFFER], c.row[_AFFILIATE]) for c in clicks if c.row[_DIVERTED] == "cap"
                ]
                if capped:
                    await mail_service.notify_capped(
                        conn, metric="clicks", refused=capped, at=max(c.row[1] for c in clicks)
                    )
        return inserted
