"""Every place that keeps personal data, and how to find and erase the rows of a subject.

Personal data here is what identifies or describes a visitor: the IP address, the user
agent, the referrer and the Accept-Language header of a click. Sub-IDs and `source`
are the affiliate's own text and stay; click IDs are random keys that money and counts
hang on and stay too. Conversions and their records hold none of it (a pixel's address
is used for its rate limit only, below). Enrichment (country, device, OS, browser, bot,
unique) is kept: it is what reports count by.

The list is in pipeline order (spool, stream, dead letters, tables, other keys), so that a
record moving on while an erasure runs is met again at its next place. A feature that
stores personal data adds its holder here (a table and its columns, or a stream's
records), with the subjects it can find rows by.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from app.clickid import click_time, format_click_id, parse_click_id
from app.db import Pool
from app.postbacks import limits as pixel_limits
from app.privacy import queries, spool, streams
from app.privacy.subject import Kind, Subject
from app.settings import Settings
from app.streams import keys


@dataclass(frozen=True, slots=True)
class Context:
    pool: Pool
    redis: Redis
    settings: Settings


# Erases a subject's personal data in one holder; how many rows or records it changed.
Eraser = Callable[[Context, Subject], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Holder:
    name: str
    holds: str
    finds_by: frozenset[Kind]
    erase: Eraser
    # The PostgreSQL table and its personal columns, for a holder that is one.
    table: str | None = None
    columns: tuple[str, ...] = ()


async def _click_spool(ctx: Context, subject: Subject) -> int:
    directory = ctx.settings.tracker_data_dir / "spool"
    return await spool.erase_spool(ctx.redis, directory, keys.CLICKS, subject)


def _click_shards(ctx: Context) -> list[str]:
    return keys.shard_keys(keys.CLICKS, ctx.settings.stream_shards)


async def _click_stream(ctx: Context, subject: Subject) -> int:
    return await streams.erase_click_stream(ctx.redis, _click_shards(ctx), subject)


async def _click_dead_letters(ctx: Context, subject: Subject) -> int:
    return await streams.erase_dead_letters(ctx.redis, _click_shards(ctx), subject)


async def _clicks_table(ctx: Context, subject: Subject) -> int:
    if subject.click_id is not None:
        if parse_click_id(format_click_id(subject.click_id)) is None:
            return 0  # not an ID the redirect makes (its time is not even a date): no row
        status = await ctx.pool.execute(
            queries.CLEAR_CLICK, subject.click_id, click_time(subject.click_id)
        )
    else:
        status = await ctx.pool.execute(queries.CLEAR_CLICKS_OF_IP, subject.ip)
    return int(status.rsplit(" ", 1)[-1])


async def _pixel_rate_counters(ctx: Context, subject: Subject) -> int:
    if subject.ip is None:
        return 0
    prefix = pixel_limits.rate_key(subject.ip, 0).rsplit(":", 1)[0]
    found = [key async for key in ctx.redis.scan_iter(match=f"{prefix}:*", count=1000)]
    return int(await ctx.redis.delete(*found)) if found else 0


CLICK_SUBJECTS: frozenset[Kind] = frozenset({"click_id", "ip"})
CLICK_FIELDS = "IP address, user agent, referrer, Accept-Language"

HOLDERS: tuple[Holder, ...] = (
    Holder(
        "clicks_spool",
        f"click records this host spooled while Redis was out of reach: {CLICK_FIELDS}",
        CLICK_SUBJECTS,
        _click_spool,
    ),
    Holder(
        "clicks_stream",
        f"click entries waiting in the clicks:{{n}} streams: {CLICK_FIELDS}",
        CLICK_SUBJECTS,
        _click_stream,
    ),
    Holder(
        "clicks_dead_letters",
        f"dead-lettered click records in clicks:{{n}}:dead: {CLICK_FIELDS}, the error",
        CLICK_SUBJECTS,
        _click_dead_letters,
    ),
    Holder(
        "clicks",
        "table clicks: ip, user_agent, referer, accept_language",
        CLICK_SUBJECTS,
        _clicks_table,
        table="clicks",
        columns=("ip", "user_agent", "referer", "accept_language"),
    ),
    Holder(
        "pixel_rate_counters",
        "Redis keys pixels:rate:<address>:<minute> (a minute's pixel count per address)",
        frozenset({"ip"}),
        _pixel_rate_counters,
    ),
)


def holders_for(kind: Kind) -> list[Holder]:
    return [h for h in HOLDERS if kind in h.finds_by]
