"""The outbox: which postback an affiliate gets for a conversion, written as deliveries
rows in the caller's transaction (the attribution's), for the engine to send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple, TypeAlias

import asyncpg
import orjson

from app import macros
from app.clickid import format_click_id
from app.db import Executor
from app.money import format_money
from app.sender import queries

# A conversions or affiliates row, or a dict with its fields.
Columns: TypeAlias = "Mapping[str, Any] | asyncpg.Record"


class Delivery(NamedTuple):
    conversion_id: int
    affiliate_id: int
    conversion_status: str
    method: str
    url: str
    body: dict[str, Any] | None


def _money(value: Any) -> str:
    return format_money(value) if isinstance(value, Decimal) else str(value or "0")


def postback_values(conversion: Columns) -> dict[str, str]:
    """The affiliate postback macros of a conversion, as text."""

    def text(name: str) -> str:
        value = conversion.get(name)
        if isinstance(value, uuid.UUID):
            # The click ID as the redirect handed it out, not the stored UUID.
            return format_click_id(value)
        return "" if value is None else str(value)

    values = {name: text(name) for name in ("click_id", "aff_click_id", *macros.SUB_IDS)}
    values |= {
        "payout": _money(conversion.get("payout")),
        "status": text("status"),
        "event": text("goal") or text("event"),
        "txid": text("txid"),
        "offer_id": text("offer_id"),
    }
    return values


def postback_request(
    *, template: str, method: str, conversion: Columns
) -> tuple[str, dict[str, Any] | None]:
    """The URL (macros filled, URL-encoded) and, for POST, the JSON body of a postback."""
    values = postback_values(conversion)
    url = macros.fill(template, values)
    if method != "POST":
        return url, None
    body: dict[str, Any] = {name: values[name] or None for name in values}
    body["offer_id"] = conversion.get("offer_id")
    body["conversion_id"] = conversion.get("id")
    body["currency"] = conversion.get("currency")
    return url, body


def delivery_for(*, conversion: Columns, affiliate: Columns) -> Delivery | None:
    """The outbox row for a conversion just attributed or changed, or None when the
    affiliate wants no postback for it.

    An affiliate with postback_on 'approved' hears of approved conversions only; with
    'all', of every status change, so a reversal arrives with {status} = rejected.
    """
    template = affiliate["postback_url"]
    status = conversion["status"]
    if not template or status == "unattributed":
        return None
    if affiliate["postback_on"] != "all" and status != "approved":
        return None
    method = affiliate["postback_method"]
    url, body = postback_request(template=template, method=method, conversion=conversion)
    return Delivery(conversion["id"], affiliate["id"], status, method, url, body)


async def enqueue_deliveries(conn: Executor, deliveries: Sequence[Delivery]) -> None:
    """Write outbox rows in the caller's transaction: one statement for the batch."""
    if not deliveries:
        return
    await conn.execute(queries.INSERT_DELIVERIES, *_columns(deliveries))


async def enqueue_delivery(
    conn: Executor, *, conversion: Columns, affiliate: Columns | None = None
) -> int | None:
    """Write the outbox row of one conversion (see `delivery_for`) in the caller's
    transaction; its ID, or None when no postback is due. Attribution writes its batches
    with `enqueue_deliveries`; this is for a conversion on its own (the tests use it).

    `conversion` is a conversions row (id, affiliate_id, offer_id, status, goal, txid,
    click_id, aff_click_id, sub1..sub5, payout, currency); `affiliate` (id, postback_url,
    postback_method, postback_on) is read when not given.
    """
    affiliate_id = conversion.get("affiliate_id")
    if affiliate_id is None:
        return None
    if affiliate is None:
        affiliate = await conn.fetchrow(queries.AFFILIATE_FOR_POSTBACK, affiliate_id)
        if affiliate is None:
            return None
    delivery = delivery_for(conversion=conversion, affiliate=affiliate)
    if delivery is None:
        return None
    delivery_id: int = await conn.fetchval(queries.INSERT_DELIVERIES, *_columns([delivery]))
    return delivery_id


def _columns(deliveries: Sequence[Delivery]) -> list[list[Any]]:
    # unnest() takes a column per parameter; the body goes as JSON text.
    rows = [(*d[:5], None if d.body is None else orjson.dumps(d.body).decode()) for d in deliveries]
    return [list(column) for column in zip(*rows, strict=True)]
