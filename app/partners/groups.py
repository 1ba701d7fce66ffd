"""Commission groups: a rank, payout rules per offer and a default rule, and the
promotion rule that group evaluation (app.partners.evaluation) applies.

Payout precedence (app.attribution.rules.payout_rule): the affiliate's own override on
the offer, then its group's rule for the offer, then its group's default rule, then the
offer's own rule. Like overrides, group rules apply to the offer's main goal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

import asyncpg
from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from app.catalog.fields import (
    Currency,
    Id,
    Input,
    Integral,
    Name,
    Patch,
    percent_in_range,
    rule_shapes,
)
from app.db import Connection, Executor
from app.errors import BadRequest, Conflict, found
from app.money import MONEY_SCHEMA, PERCENT_SCHEMA, format_money, text_only
from app.pagination import Page, PageParams
from app.partners import queries
from app.patterns import MAX_ID

Metric = Literal["approved_conversions", "revenue", "payout", "clicks"]
MONEY_METRICS = ("revenue", "payout")
RANK_DOC = "unique; higher ranks are better"
RANK_BOUND = 1_000_000
Rank = Annotated[int, Field(ge=-RANK_BOUND, le=RANK_BOUND, description=RANK_DOC), Integral]


# Money in groups is a decimal string only (a new API: no older clients sending numbers).
GROUP_MONEY_SCHEMA = {**MONEY_SCHEMA, "description": 'a decimal string such as "2.50"'}
GROUP_PERCENT_SCHEMA = {**PERCENT_SCHEMA, "description": 'a decimal string, "0" to "100"'}


TextMoney = Annotated[
    Decimal,
    PlainValidator(text_only('"2.50"')),
    PlainSerializer(format_money, return_type=str, when_used="json"),
    WithJsonSchema(GROUP_MONEY_SCHEMA),
]


class _GroupRuleBase(Input):
    shared_fields: ClassVar[dict[str, JsonSchemaValue]] = {}

    type: Literal["fixed", "percent"]
    value: TextMoney

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        return {
            "title": cls.__name__,
            **rule_shapes(
                cls.shared_fields, money=GROUP_MONEY_SCHEMA, percent=GROUP_PERCENT_SCHEMA
            ),
        }

    @model_validator(mode="after")
    def _percent_range(self) -> _GroupRuleBase:
        return percent_in_range(self)


class DefaultRule(_GroupRuleBase):
    """The group's rule for offers it has no rule of its own for."""


class GroupRule(_GroupRuleBase):
    shared_fields: ClassVar[dict[str, JsonSchemaValue]] = {
        "offer_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    }

    offer_id: Id


class Promotion(Input):
    """Members qualify when `metric`, summed over the last `window_days` UTC days (today
    included), is at least `min`; money metrics count in `currency` only."""

    metric: Metric
    window_days: Annotated[int, Field(ge=1, le=366), Integral]
    min: TextMoney
    currency: Currency | None = Field(default=None, description="needed for revenue, payout")
    demote: bool = Field(default=False, description="members who fall short move down")

    @model_validator(mode="after")
    def _currency(self) -> Promotion:
        if self.metric in MONEY_METRICS and self.currency is None:
            raise ValueError(f"a {self.metric} promotion needs a currency")
        if self.metric not in MONEY_METRICS and self.currency is not None:
            raise ValueError(f"a {self.metric} promotion has no currency")
        return self


GroupRules: Any = Field(default_factory=list, max_length=10_000, description="one per offer")


class _OneRulePerOffer(BaseModel):
    """A group's body: its rules, when given, name each offer once."""

    if TYPE_CHECKING:
        rules: list[GroupRule] | None

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if self.rules is not None and len({r.offer_id for r in self.rules}) != len(self.rules):
            raise ValueError("one rule per offer")
        return self


class GroupIn(_OneRulePerOffer, Input):
    name: Name
    rank: Rank
    rules: list[GroupRule] = GroupRules
    default: DefaultRule | None = None
    promotion: Promotion | None = None


class GroupPatch(_OneRulePerOffer, Patch):
    nullable = frozenset({"default", "promotion"})

    name: Name | None = None
    rank: (
        Annotated[int, Field(ge=-RANK_BOUND, le=RANK_BOUND, description=RANK_DOC), Integral] | None
    ) = None
    rules: list[GroupRule] | None = Field(default=None, max_length=10_000)
    default: DefaultRule | None = None
    promotion: Promotion | None = None


class GroupOut(BaseModel):
    id: int
    name: str
    rank: int
    rules: list[GroupRule]
    default: DefaultRule | None
    promotion: Promotion | None
    created_at: datetime
    updated_at: datetime


def _columns(body: GroupIn) -> list[Any]:
    default, promotion = body.default, body.promotion
    return [
        body.name,
        body.rank,
        default.type if default else None,
        default.value if default else None,
        promotion.metric if promotion else None,
        promotion.window_days if promotion else None,
        promotion.min if promotion else None,
        promotion.currency if promotion else None,
        promotion.demote if promotion else False,
    ]


def _group_out(row: asyncpg.Record, rules: list[GroupRule]) -> GroupOut:
    default = None
    if row["default_type"] is not None:
        default = DefaultRule.model_validate(
            {"type": row["default_type"], "value": str(row["default_value"])}
        )
    promotion = None
    if row["promotion_metric"] is not None:
        promotion = Promotion.model_validate(
            {
                "metric": row["promotion_metric"],
                "window_days": row["promotion_window_days"],
                "min": str(row["promotion_min"]),
                "currency": row["promotion_currency"],
                "demote": row["promotion_demote"],
            }
        )
    return GroupOut(
        id=row["id"],
        name=row["name"],
        rank=row["rank"],
        rules=rules,
        default=default,
        promotion=promotion,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _groups_out(conn: Executor, rows: list[asyncpg.Record]) -> list[GroupOut]:
    rules: defaultdict[int, list[GroupRule]] = defaultdict(list)
    for r in await conn.fetch(queries.GROUP_RULES, [row["id"] for row in rows]):
        rules[r["group_id"]].append(
            GroupRule.model_validate(
                {
                    "offer_id": r["offer_id"],
                    "type": r["payout_type"],
                    "value": str(r["payout_value"]),
                }
            )
        )
    return [_group_out(row, rules[row["id"]]) for row in rows]


async def _replace_rules(conn: Connection, group_id: int, rules: list[GroupRule]) -> None:
    offer_ids = [r.offer_id for r in rules]
    found = {r["id"] for r in await conn.fetch(queries.EXISTING_OFFERS, offer_ids)}
    if missing := sorted(set(offer_ids) - found):
        raise Conflict(f"offer {missing[0]} does not exist", code="invalid_reference")
    await conn.execute(queries.DELETE_GROUP_RULES, group_id)
    if rules:
        await conn.execute(
            queries.INSERT_GROUP_RULES,
            group_id,
            offer_ids,
            [r.type for r in rules],
            [r.value for r in rules],
        )


def _duplicate(exc: asyncpg.UniqueViolationError) -> Conflict:
    what = "rank" if "rank" in (exc.constraint_name or "") else "name"
    return Conflict(f"another group has this {what}", code="duplicate_group")


async def create_group(conn: Connection, *, body: GroupIn) -> GroupOut:
    try:
        async with conn.transaction():
            row = await conn.fetchrow(queries.INSERT_GROUP, *_columns(body))
            assert row is not None
            await _replace_rules(conn, row["id"], body.rules)
    except asyncpg.UniqueViolationError as exc:
        raise _duplicate(exc) from None
    return await get_group(conn, group_id=row["id"])


async def get_group(conn: Executor, *, group_id: int) -> GroupOut:
    row = found(await conn.fetchrow(queries.GET_GROUP, group_id), "group", group_id)
    return (await _groups_out(conn, [row]))[0]


async def list_groups(conn: Executor, *, page: PageParams) -> Page[GroupOut]:
    rows = await conn.fetch(*queries.LIST_GROUPS.bind(page.after, page.limit))
    return page.of(await _groups_out(conn, rows), rows)


async def update_group(conn: Connection, *, group_id: int, body: GroupPatch) -> GroupOut:
    current = await get_group(conn, group_id=group_id)
    given = body.model_fields_set
    for name in given - body.nullable:
        if getattr(body, name) is None:
            raise BadRequest(f"{name}: may not be null", code="invalid_request")
    merged = GroupIn(
        name=body.name if "name" in given and body.name else current.name,
        rank=body.rank if "rank" in given and body.rank is not None else current.rank,
        rules=body.rules if body.rules is not None else current.rules,
        default=body.default if "default" in given else current.default,
        promotion=body.promotion if "promotion" in given else current.promotion,
    )
    try:
        async with conn.transaction():
            await conn.execute(queries.UPDATE_GROUP, group_id, *_columns(merged))
            if body.rules is not None:
                await _replace_rules(conn, group_id, body.rules)
    except asyncpg.UniqueViolationError as exc:
        raise _duplicate(exc) from None
    return await get_group(conn, group_id=group_id)


async def delete_group(conn: Connection, *, group_id: int) -> None:
    """Refused (409) while affiliates are in the group: moving them is a decision."""
    async with conn.transaction():
        await get_group(conn, group_id=group_id)
        if await conn.fetchval(queries.GROUP_IN_USE, group_id):
            raise Conflict(f"group {group_id} has members", code="group_in_use")
        await conn.execute(queries.DELETE_GROUP, group_id)
