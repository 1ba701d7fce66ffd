"""Click records with the personal data taken out, wherever a record waits to be stored.

An erased record keeps every member but `ip`, `ua`, `ref` and `al`, and gains `x`: what
the worker would have made of them (country, device, OS, browser, bot), and whether the
click is unique, decided now with the same Redis key the worker uses
(app.clicks.store.mark_unique), so the row it is stored as has the dimensions and
counts it would have had. A record that is not a click the worker could store (poison)
just loses the personal members: it will be dead-lettered as before.
"""

from __future__ import annotations

from typing import Any

import orjson
from redis.asyncio import Redis

from app.clicks import record as click_record
from app.clicks import store as click_store
from app.streams.records import PoisonRecord

ERASED_TEXT = "[erased]"


def parse(raw: bytes) -> dict[str, Any] | None:
    """A record's JSON object, or None if it holds none."""
    try:
        rec = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return rec if isinstance(rec, dict) else None


def without_personal(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in click_record.PERSONAL_MEMBERS}


async def erase_clicks(redis: Redis, raws: list[bytes]) -> list[bytes]:
    """The erased form of each click record (all parse: see app.privacy.kinds)."""
    recs = [parse(raw) or {} for raw in raws]
    clicks: dict[int, click_store.Click] = {}
    for i, raw in enumerate(raws):
        try:
            clicks[i] = click_store.decode(raw)
        except PoisonRecord:
            continue
    await click_store.mark_unique(redis, list(clicks.values()))
    erased: list[bytes] = []
    for i, rec in enumerate(recs):
        kept = without_personal(rec)
        click = clicks.get(i)
        if click is not None:
            kept[click_record.ERASED_MEMBER] = _enrichment(click).member()
        erased.append(orjson.dumps(kept))
    return erased


def _enrichment(click: click_store.Click) -> click_record.Erased:
    value = dict(zip(click_store.COLUMNS, click.row, strict=True))
    return click_record.Erased(
        country=value["country"],
        device=value["device"],
        os=value["os"],
        browser=value["browser"],
        is_bot=bool(value["is_bot"]),
        is_unique=bool(value["is_unique"]),
    )


def scrub_text(text: str, needles: list[str]) -> str:
    for needle in needles:
        if needle:
            text = text.replace(needle, ERASED_TEXT)
    return text


def padded(erased: bytes, size: int) -> bytes | None:
    """`erased` padded with JSON whitespace to `size` bytes, None if it is longer: a
    record rewritten in its place in a spool file keeps its length."""
    if len(erased) > size:
        return None
    return erased + b" " * (size - len(erased))
