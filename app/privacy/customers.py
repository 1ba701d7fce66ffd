"""A customer as the subject of an erasure: its external ID (the advertiser's own ID of the
buyer) in the customers table and in the conversion records that wait to be stored, and
the clicks it came through.

The customer row stays, with its binding, marked `erased_at`: its conversions, rollups,
reports and totals still count. Only `external_id` goes, so a later postback with the same
external ID finds no customer and makes a new one: the link to the old one is gone, by
design. Conversion records that waited meanwhile name the customer by its service ID
instead (app/privacy/kinds.py) and are still counted for it. `customer_events.reason` is
admin free text and is kept as it is (README, Privacy).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from app.db import Pool
from app.errors import Conflict, NotFound
from app.privacy import queries
from app.privacy.subject import Subject


async def resolve(pool: Pool, subject: Subject) -> Subject:
    """The subject with the customer's external ID and advertiser; 404 for no such
    customer, 409 for one erased already (its external ID, gone, finds nothing more)."""
    row = await pool.fetchrow(queries.CUSTOMER, subject.customer_id)
    if row is None:
        raise NotFound(f"customer {subject.customer_id} does not exist")
    if row["erased_at"] is not None or row["external_id"] is None:
        raise Conflict(
            f"customer {subject.customer_id} was erased already at {row['erased_at']}",
            code="already_erased",
        )
    return replace(
        subject, external_id=str(row["external_id"]), advertiser_id=int(row["advertiser_id"])
    )


async def click_ids(pool: Pool, customer_id: int) -> list[uuid.UUID]:
    """The clicks of the customer: its binding's and those of every conversion of it."""
    return [r["click_id"] for r in await pool.fetch(queries.CUSTOMER_CLICKS, customer_id)]


async def clear(pool: Pool, customer_id: int) -> int:
    status = await pool.execute(queries.CLEAR_CUSTOMER, customer_id)
    return int(status.rsplit(" ", 1)[-1])
