"""Conversion deltas of the stats rollups: what a creation or status change adds to, and
takes from, its rollup row, summed per row over a batch."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.attribution import queries
from app.attribution.rules import Row
from app.db import Connection
from app.rollups import registry


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
            registry.bucket_of(row["created_at"]),
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
        columns: list[list[Any]] = [
            [] for _ in range(len(registry.BASE_KEY) + len(registry.CONVERSION_METRICS))
        ]
        for key, delta in rows:
            for i, value in enumerate((*key, *delta)):
                columns[i].append(value)
        await conn.execute(queries.UPSERT_ROLLUPS, *columns)
