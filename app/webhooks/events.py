"""The emit side of webhooks: events become deliveries rows (kind 'webhook') in the
caller's transaction, one statement per batch, for the sender to sign and send.

Any feature emits with `emit(conn, type, data, affiliate_id=...)`; conversions and caps,
which come in batches, have their own batched calls. An event is stored only if an
enabled endpoint subscribes to it, so emitting costs one cheap statement when none does.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

import asyncpg
import orjson

from app.attribution import queries as conversion_queries
from app.clickid import format_click_id
from app.clicks import record as click_record
from app.db import Executor
from app.money import format_money
from app.webhooks import queries

TEST = "webhook.test"
# What an endpoint may subscribe to. Those of features still to come are accepted now
# and emitted once that feature lands (README, Webhooks).
EventType = Literal[
    "conversion.created",
    "conversion.updated",
    "offer.status_changed",
    "offer.cap_reached",
    "customer.created",
    "affiliate.applied",
    "affiliate.status_changed",
    "affiliate.group_changed",
    "payout.created",
    "payout.paid",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
CONVERSION_EVENTS = ("conversion.created", "conversion.updated")
# What an affiliate's endpoint never hears of: the program's revenue and the advertiser's
# customer IDs, at any depth of `data`.
PRIVATE_FIELDS = frozenset(
    {"revenue", "profit", "revenue_type", "revenue_value", "customer_id", "external_id"}
)

_CONVERSION_FIELDS = (
    "id",
    "advertiser_id",
    "offer_id",
    "affiliate_id",
    "link_id",
    "goal",
    "txid",
    "click_id",
    "reason",
    *conversion_queries.MONEY_COLUMNS,
    *click_record.SUB_NAMES,
    "country",
    "via",
    "created_at",
    # Customers (app/customers): the service's customer (private: not for affiliates),
    # whether it is one of its later conversions, and what credited it.
    "customer_id",
    "recurring",
    "attributed_via",
)
CUSTOMER_CREATED = "customer.created"
_CUSTOMER_FIELDS = ("id", "advertiser_id", "affiliate_id", "offer_id", "first_conversion_id")


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    data: Mapping[str, Any]
    # Whose event it is: that affiliate's endpoints hear of it too. None: the program's.
    affiliate_id: int | None = None
    # An offer's event: the endpoints of affiliates with a link to it hear of it too.
    offer_id: int | None = None
    # False: program-wide endpoints only, whoever the event concerns.
    for_affiliates: bool = True


def new_event_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, uuid.UUID):
        return format_click_id(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def stripped(data: Any) -> Any:
    """`data` without PRIVATE_FIELDS, at any depth."""
    if isinstance(data, Mapping):
        return {k: stripped(v) for k, v in data.items() if k not in PRIVATE_FIELDS}
    if isinstance(data, list | tuple):
        return [stripped(v) for v in data]
    return data


def payload(event_id: str, type_: str, created_at: datetime, data: Any) -> str:
    """The delivered body: `{"id", "type", "created_at", "data"}` as JSON text."""
    body = {"id": event_id, "type": type_, "created_at": created_at, "data": data}
    return orjson.dumps(body, default=_default, option=orjson.OPT_UTC_Z).decode()


class Subscriptions:
    """Which event types enabled endpoints subscribe to, read once per batch, so that
    nothing is built for events no endpoint would receive."""

    def __init__(self, rows: Iterable[asyncpg.Record]) -> None:
        self._types = {r["type"]: (bool(r["program"]), set(r["affiliates"])) for r in rows}

    @classmethod
    async def read(cls, conn: Executor, types: Iterable[str]) -> Subscriptions:
        return cls(await conn.fetch(queries.SUBSCRIBED, sorted(set(types))))

    def __bool__(self) -> bool:
        return bool(self._types)

    def wanted(self, event: Event) -> tuple[bool, bool]:
        """Whether a program endpoint, and whether an affiliate's, may receive `event`."""
        program, affiliates = self._types.get(event.type, (False, set()))
        private = bool(
            event.for_affiliates
            and affiliates
            and (event.affiliate_id in affiliates or (event.offer_id and not event.affiliate_id))
        )
        return program, private


async def emit_many(
    conn: Executor, events: Sequence[Event], *, subscriptions: Subscriptions | None = None
) -> None:
    """Store `events` for every endpoint that should hear of them, in the caller's
    transaction (so an event goes out if and only if what it reports is committed)."""
    if not events:
        return
    if subscriptions is None:
        subscriptions = await Subscriptions.read(conn, (e.type for e in events))
    now = datetime.now(UTC)
    columns: list[list[Any]] = [[], [], [], [], [], []]
    for event in events:
        program, private = subscriptions.wanted(event)
        if not (program or private):
            continue
        event_id = new_event_id()
        row = (
            event_id,
            event.type,
            event.affiliate_id,
            event.offer_id,
            payload(event_id, event.type, now, event.data),
            payload(event_id, event.type, now, stripped(event.data)) if private else None,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    if columns[0]:
        await conn.execute(queries.FAN_OUT, *columns)


async def emit(
    conn: Executor,
    type_: str,
    data: Mapping[str, Any],
    affiliate_id: int | None = None,
    *,
    offer_id: int | None = None,
) -> None:
    """Emit one event (one of EVENT_TYPES) about `affiliate_id` (None: the program's).
    Call it in the transaction that makes the change it reports."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown webhook event type {type_!r}")
    await emit_many(conn, [Event(type_, data, affiliate_id=affiliate_id, offer_id=offer_id)])


def conversion_data(row: Mapping[str, Any], old: str | None, new: str) -> dict[str, Any]:
    data = {name: row.get(name) for name in _CONVERSION_FIELDS}
    # Converted here rather than by orjson's `default`, which is slower per value.
    for name in ("amount", "revenue", "payout"):
        value = data[name]
        if isinstance(value, Decimal):
            data[name] = format_money(value)
    if isinstance(data["click_id"], uuid.UUID):
        data["click_id"] = format_click_id(data["click_id"])
    data["status"] = new
    data["previous_status"] = old
    return data


async def emit_conversions(
    conn: Executor, events: Iterable[tuple[Mapping[str, Any], str | None, str, str]]
) -> None:
    """`conversion.created` (old status None) and `conversion.updated` for a batch of
    (conversion row, old status, new status, by whom), as attribution applies them.
    Unattributed conversions go to the program's endpoints only."""
    subscriptions = await Subscriptions.read(conn, CONVERSION_EVENTS)
    if not subscriptions:
        return  # the common case: one query, nothing built
    wanted = []
    for row, old, new, _ in events:
        # The data is built only for events an endpoint receives.
        bare = Event(
            "conversion.created" if old is None else "conversion.updated",
            {},
            affiliate_id=row.get("affiliate_id"),
        )
        if any(subscriptions.wanted(bare)):
            wanted.append(dataclasses.replace(bare, data=conversion_data(row, old, new)))
    await emit_many(conn, wanted, subscriptions=subscriptions)


async def emit_customers_created(conn: Executor, rows: Iterable[asyncpg.Record]) -> None:
    """`customer.created` for a batch of new customers rows, as attribution makes them:
    one query when no endpoint subscribes. The data never holds the advertiser's
    external customer ID; an affiliate's endpoints hear of the customers bound to it."""
    subscriptions = await Subscriptions.read(conn, (CUSTOMER_CREATED,))
    if not subscriptions:
        return
    made = []
    for row in rows:
        data = {name: row[name] for name in _CUSTOMER_FIELDS}
        data["created_at"] = row["created_at"]
        made.append(Event(CUSTOMER_CREATED, data, affiliate_id=row["affiliate_id"]))
    await emit_many(conn, made, subscriptions=subscriptions)


async def emit_caps_reached(
    conn: Executor, reached: Iterable[tuple[Mapping[str, Any], datetime]]
) -> None:
    """`offer.cap_reached` for (cap, its period's start) pairs, each once per period:
    the first caller claims the pair (offer_cap_alerts), later ones emit nothing.
    A cap has id, offer_id, metric, period, limit and affiliate_id (None: the offer's)."""
    caps = {(int(cap["id"]), start): cap for cap, start in reached}
    if not caps:
        return
    keys = sorted(caps)
    claimed = await conn.fetch(queries.CLAIM_CAP_ALERTS, [k[0] for k in keys], [k[1] for k in keys])
    events = []
    for r in claimed:
        cap = caps[(int(r["cap_id"]), r["period_start"])]
        data = {
            "offer_id": cap["offer_id"],
            "cap_id": cap["id"],
            "metric": cap["metric"],
            "period": cap["period"],
            "limit": cap["limit"],
            "affiliate_id": cap["affiliate_id"],
            "period_start": r["period_start"],
        }
        events.append(
            Event(
                "offer.cap_reached",
                data,
                affiliate_id=cap["affiliate_id"],
                offer_id=None if cap["affiliate_id"] is not None else cap["offer_id"],
            )
        )
    await emit_many(conn, events)
