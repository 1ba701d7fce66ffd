"""Erasure of a subject's personal data across every holder, and its record."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import Pool
from app.pagination import Page, PageParams
from app.privacy import customers, holders, queries
from app.privacy.schemas import EraseClick, EraseIp, EraseRequest, Erasure
from app.privacy.subject import Subject, click_uuid

logger = logging.getLogger(__name__)


def subject_of(body: EraseRequest) -> Subject:
    if isinstance(body, EraseClick):
        return Subject.of_click(click_uuid(body.click_id))
    if isinstance(body, EraseIp):
        return Subject.of_ip(body.ip)
    return Subject.of_customer(body.customer_id)


async def erase(ctx: holders.Context, *, subject: Subject, key_id: int | None) -> Erasure:
    """Erase the subject in every holder that can find it, in pipeline order; then record
    what was asked and how many rows or records changed where. Running it again finds
    nothing left: each holder counts only what still held personal data."""
    if subject.kind == "customer_id":
        subject = await customers.resolve(ctx.pool, subject)
    found = holders.holders_for(subject.kind)
    requested_at = datetime.now(UTC)
    counts: dict[str, int] = {}
    for holder in found:
        counts[holder.name] = await holder.erase(ctx, subject)
    row = await ctx.pool.fetchrow(
        queries.INSERT_ERASURE,
        subject.kind,
        subject.recorded(),
        key_id,
        orjson.dumps(counts).decode(),
        requested_at,
    )
    logger.info("erasure %s of a %s: %s", row["id"] if row else "?", subject.kind, counts)
    return _erasure(row)


def _erasure(row: Any) -> Erasure:
    counts = row["counts"]
    counts = orjson.loads(counts) if isinstance(counts, str) else dict(counts)
    return Erasure(
        id=row["id"],
        kind=row["kind"],
        subject=row["subject"],
        key_id=row["key_id"],
        counts=counts,
        total=sum(counts.values()),
        requested_at=row["requested_at"],
        finished_at=row["finished_at"],
    )


async def list_erasures(pool: Pool, *, page: PageParams) -> Page[Erasure]:
    rows = await pool.fetch(*queries.LIST_ERASURES.bind(page.after, page.limit))
    return page.of([_erasure(r) for r in rows], rows)
