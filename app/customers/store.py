"""The worker's customer writes for one batch: a fixed number of statements."""

from __future__ import annotations

from app.attribution.rules import Row
from app.customers import queries
from app.customers.binding import Customer, CustomerConflict, columns
from app.db import Connection
from app.webhooks import events as webhooks


async def write(
    conn: Connection, customers: list[Customer], events: list[tuple[Customer, str, int | None, Row]]
) -> None:
    """Insert the batch's new customers (after their first conversions, whose IDs they
    keep), update the rebound ones, and record each binding as an event. New customers
    are told to webhooks (`customer.created`) in the same transaction."""
    created = [c for c in customers if c.creator is not None]
    if any(c.creator is not None and "id" not in c.creator for c in created):
        raise CustomerConflict("a new customer lost its first conversion")
    if created:
        rows = [columns(c) for c in created]
        made = await conn.fetch(queries.INSERT, *map(list, zip(*rows, strict=True)))
        await webhooks.emit_customers_created(conn, made)
    rebound = [c for c in customers if c.rebound and c.creator is None]
    if rebound:
        values = [columns(c)[3:15] for c in rebound]
        await conn.execute(
            queries.REBIND, [c.id for c in rebound], *map(list, zip(*values, strict=True))
        )
    if events:
        made_by = [row for _, _, _, row in events]
        await conn.execute(
            queries.INSERT_EVENTS,
            [c.id for c, _, _, _ in events],
            [kind for _, kind, _, _ in events],
            [row["affiliate_id"] for row in made_by],
            [previous for _, _, previous, _ in events],
            [row["id"] for row in made_by],
            [str(row["via"]) for row in made_by],
            [None] * len(made_by),
            [row["received_at"] for row in made_by],
        )
