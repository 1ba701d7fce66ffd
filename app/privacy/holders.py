"""Every place that keeps personal data, and how to find and erase the rows of a subject.

Personal data here is what identifies or describes a visitor: the IP address, the user
agent, the referrer and the Accept-Language header of a click, and the advertiser's own
ID of a buyer (a customer's `external_id`, a conversion record's `cu`). Sub-IDs and
`source` are the affiliate's own text and stay; click, conversion and customer IDs are the
service's keys that money and counts hang on and stay too. Conversion rows hold none of it
(a pixel's address is used for its rate limit only, below; an admin sees a conversion's
`customer_external_id` through its customer). Enrichment (country, device, OS, browser,
bot, unique) and a customer's binding are kept: they are what reports count by. A
customer's erasure erases its clicks too (app/privacy/customers.py).

The list is in pipeline order (spool, stream, dead letters, tables, other keys), so that a
record moving on while an erasure runs is met again at its next place. A feature that
stores personal data adds its holder here (a table and its columns, or a stream's
records), with the subjects it can find rows by.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis

from app.accounts import limits as sign_in_limits
from app.accounts import sessions as user_sessions
from app.clickid import click_time, format_click_id, parse_click_id
from app.clicks import record as click_record
from app.db import Pool
from app.postbacks import limits as pixel_limits
from app.privacy import customers, kinds, queries, spool, streams
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


def _spool(kind: kinds.RecordKind) -> Eraser:
    async def erase(ctx: Context, subject: Subject) -> int:
        directory = ctx.settings.tracker_data_dir / "spool"
        return await spool.erase_spool(ctx.redis, directory, subject, kind)

    return erase


def _shards(ctx: Context, kind: kinds.RecordKind) -> list[str]:
    return keys.shard_keys(kind.name, ctx.settings.stream_shards)


def _stream(kind: kinds.RecordKind) -> Eraser:
    async def erase(ctx: Context, subject: Subject) -> int:
        return await streams.erase_stream(ctx.redis, _shards(ctx, kind), subject, kind)

    return erase


def _dead_letters(kind: kinds.RecordKind) -> Eraser:
    async def erase(ctx: Context, subject: Subject) -> int:
        return await streams.erase_dead_letters(ctx.redis, _shards(ctx, kind), subject, kind)

    return erase


# Rounds over the conversions' streams and retry sets (a record moves between them both
# ways: deferred by the worker, and back when due): one that finds nothing ends them.
WAITING_ROUNDS = 4


async def _conversions_waiting(ctx: Context, subject: Subject) -> int:
    kind, shards = kinds.CONVERSIONS, _shards(ctx, kinds.CONVERSIONS)
    total = await streams.erase_retries(ctx.redis, shards, subject, kind)
    for _ in range(WAITING_ROUNDS):
        found = await streams.erase_stream(ctx.redis, shards, subject, kind)
        found += await streams.erase_retries(ctx.redis, shards, subject, kind)
        total += found
        if not found:
            break
    return total


async def _customer_clicks(ctx: Context, subject: Subject) -> int:
    """The personal data of the customer's clicks, in every holder of clicks."""
    assert subject.customer_id is not None
    changed = 0
    for click_id in await customers.click_ids(ctx.pool, subject.customer_id):
        for holder in holders_for("click_id"):
            changed += await holder.erase(ctx, Subject.of_click(click_id))
    return changed


async def _customers_table(ctx: Context, subject: Subject) -> int:
    assert subject.customer_id is not None
    return await customers.clear(ctx.pool, subject.customer_id)


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


async def _user_sessions(ctx: Context, subject: Subject) -> int:
    if subject.ip is None:
        return 0
    return await user_sessions.erase_address(
        ctx.pool, lambda text: click_record.ip_text(text) == subject.ip
    )


async def _sign_in_counter(ctx: Context, subject: Subject) -> int:
    if subject.ip is None:
        return 0
    return int(await ctx.redis.delete(sign_in_limits.address_key(subject.ip)))


CLICK_SUBJECTS: frozenset[Kind] = frozenset({"click_id", "ip"})
CUSTOMER: frozenset[Kind] = frozenset({"customer_id"})
CLICK_FIELDS = "IP address, user agent, referrer, Accept-Language"

HOLDERS: tuple[Holder, ...] = (
    Holder(
        "clicks_spool",
        f"click records this host spooled while Redis was out of reach: {CLICK_FIELDS}",
        CLICK_SUBJECTS,
        _spool(kinds.CLICKS),
    ),
    Holder(
        "clicks_stream",
        f"click entries waiting in the clicks:{{n}} streams: {CLICK_FIELDS}",
        CLICK_SUBJECTS,
        _stream(kinds.CLICKS),
    ),
    Holder(
        "clicks_dead_letters",
        f"dead-lettered click records in clicks:{{n}}:dead: {CLICK_FIELDS}, the error",
        CLICK_SUBJECTS,
        _dead_letters(kinds.CLICKS),
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
    Holder(
        "user_sessions",
        "table user_sessions: ip, user_agent of the portal's sessions signed in from the "
        "address (the session stays)",
        frozenset({"ip"}),
        _user_sessions,
        table="user_sessions",
        columns=("ip", "user_agent"),
    ),
    Holder(
        "sign_in_counter",
        "the Redis key signin:fail:ip:<address> (failed sign-ins from it in 15 minutes)",
        frozenset({"ip"}),
        _sign_in_counter,
    ),
    # A customer's: its clicks first, then its external ID where conversions wait, and in
    # its row last (a failure before leaves it to be found again by a retry).
    Holder(
        "customer_clicks",
        f"the customer's clicks (its binding's, its conversions'), in each click holder: "
        f"{CLICK_FIELDS}",
        CUSTOMER,
        _customer_clicks,
    ),
    Holder(
        "conversions_spool",
        "conversion records this host spooled while Redis was out of reach: `cu`, the "
        "external customer ID",
        CUSTOMER,
        _spool(kinds.CONVERSIONS),
    ),
    Holder(
        "conversions_waiting",
        "conversion entries waiting in the conversions:{n} streams (pending too) and their "
        "retry sets conversions:{n}:retry: `cu`",
        CUSTOMER,
        _conversions_waiting,
    ),
    Holder(
        "conversions_dead_letters",
        "dead-lettered conversion records in conversions:{n}:dead: `cu`, the error",
        CUSTOMER,
        _dead_letters(kinds.CONVERSIONS),
    ),
    Holder(
        "customers",
        "table customers: external_id (the row stays, marked erased_at)",
        CUSTOMER,
        _customers_table,
        table="customers",
        columns=("external_id",),
    ),
)


def holders_for(kind: Kind) -> list[Holder]:
    return [h for h in HOLDERS if kind in h.finds_by]
