"""Conversion caps: how many approved or pending conversions an offer, or one of its
affiliates on it, may take per UTC day or month.

Attribution counts them in the transaction that stores the conversions, under an
advisory lock per capped offer (app/attribution/writer.py), so that two batches never
both take the last place. A conversion over a cap is kept, rejected with reason `cap`;
rejected conversions do not count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.db import Connection

CONVERSION_CAPS = """
SELECT id, offer_id, period, cap_limit, affiliate_id
FROM offer_caps WHERE metric = 'conversions' AND offer_id = ANY($1::bigint[])
"""
# Approved and pending conversions count against a cap; rejected ones do not.
CAP_USED = """
SELECT count(*) FROM conversions
WHERE offer_id = $1 AND ($2::bigint IS NULL OR affiliate_id = $2) AND created_at >= $3
  AND status IN ('approved', 'pending')
"""


@dataclass(frozen=True, slots=True)
class ConversionCap:
    id: int
    offer_id: int
    period: str
    limit: int
    # None: the offer's cap for all its affiliates together.
    affiliate_id: int | None


def period_start(now: datetime, period: str) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.replace(day=1) if period == "month" else day


async def load(conn: Connection, offer_ids: list[int]) -> dict[int, list[ConversionCap]]:
    """The conversion caps of these offers; every offer asked for has an entry."""
    caps: dict[int, list[ConversionCap]] = {offer_id: [] for offer_id in offer_ids}
    if not offer_ids:
        return caps
    for r in await conn.fetch(CONVERSION_CAPS, offer_ids):
        caps[int(r["offer_id"])].append(
            ConversionCap(
                id=int(r["id"]),
                offer_id=int(r["offer_id"]),
                period=str(r["period"]),
                limit=int(r["cap_limit"]),
                affiliate_id=None if r["affiliate_id"] is None else int(r["affiliate_id"]),
            )
        )
    return caps


class Usage:
    """How much of each cap is used, counted on as a batch admits conversions."""

    def __init__(
        self,
        caps: dict[int, list[ConversionCap]],
        used: dict[int, int],
        now: datetime | None = None,
    ) -> None:
        self._caps = caps
        self._used = used
        self._now = now or datetime.now(UTC)
        # The caps that refused a conversion in this batch (offer.cap_reached).
        self._refused: dict[int, ConversionCap] = {}

    @classmethod
    async def counted(
        cls,
        conn: Connection,
        caps: dict[int, list[ConversionCap]],
        offer_ids: Iterable[int],
        now: datetime,
    ) -> Usage:
        """The usage of the caps of `offer_ids` (call it under their locks)."""
        used: dict[int, int] = {}
        for offer_id in sorted(offer_ids):
            for cap in caps[offer_id]:
                used[cap.id] = await conn.fetchval(
                    CAP_USED, offer_id, cap.affiliate_id, period_start(now, cap.period)
                )
        return cls(caps, used, now)

    def _applying(self, offer_id: int, affiliate_id: int | None) -> list[ConversionCap]:
        return [
            cap
            for cap in self._caps[offer_id]
            if cap.affiliate_id is None or cap.affiliate_id == affiliate_id
        ]

    def full(self, *, offer_id: int, affiliate_id: int | None) -> bool:
        """Whether one more conversion would pass a cap (which then counts as refusing)."""
        full = [
            cap for cap in self._applying(offer_id, affiliate_id) if self._used[cap.id] >= cap.limit
        ]
        for cap in full:
            self._refused[cap.id] = cap
        return bool(full)

    def refusals(self) -> list[tuple[dict[str, Any], datetime]]:
        """The caps that refused a conversion, each with its current period's start."""
        return [
            (
                {
                    "id": cap.id,
                    "offer_id": cap.offer_id,
                    "metric": "conversions",
                    "period": cap.period,
                    "limit": cap.limit,
                    "affiliate_id": cap.affiliate_id,
                },
                period_start(self._now, cap.period),
            )
            for cap in self._refused.values()
        ]

    def count(self, *, offer_id: int, affiliate_id: int | None) -> None:
        for cap in self._applying(offer_id, affiliate_id):
            self._used[cap.id] += 1
