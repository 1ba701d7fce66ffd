"""Webhook endpoints made straight in the database, and the events they were given, read
from the deliveries table (no sender needed: what is stored is what goes out)."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


async def subscribe(pool: asyncpg.Pool, events: list[str], affiliate_id: int | None = None) -> int:
    """An enabled endpoint of the program (or of `affiliate_id`) for `events`."""
    webhook_id: int = await pool.fetchval(
        "INSERT INTO webhooks (url, events, affiliate_id, secret)"
        " VALUES ('http://127.0.0.1:9/hook', $1, $2, 'whsec_dGVzdHRlc3R0ZXN0dGVzdA==')"
        " RETURNING id",
        events,
        affiliate_id,
    )
    return webhook_id


async def told(pool: asyncpg.Pool, type_: str) -> list[tuple[int, dict[str, Any]]]:
    """(endpoint, data) of every delivery of `type_`, in the order stored."""
    rows = await pool.fetch(
        "SELECT webhook_id, body FROM deliveries WHERE kind = 'webhook' AND event_type = $1"
        " ORDER BY id",
        type_,
    )
    out = []
    for r in rows:
        body = r["body"] if isinstance(r["body"], dict) else orjson.loads(r["body"])
        out.append((int(r["webhook_id"]), body["data"]))
    return out
