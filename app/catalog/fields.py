"""The catalog's field types and its building blocks: money rules, goals, payout
overrides and caps, the strict input base and the PATCH base (app.catalog.schemas builds
the resources' bodies from them)."""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from app import currencies, patterns
from app.money import MONEY_SCHEMA, PERCENT_SCHEMA, Money
from app.patterns import MAX_ID

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S"), AfterValidator(str.strip)]
GoalName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Currency = Annotated[
    str,
    Field(description="ISO 4217 code"),
    AfterValidator(currencies.check_currency),
    WithJsonSchema({"type": "string", "enum": sorted(currencies.MINOR_UNITS)}),
]


def _integral(value: object) -> object:
    # JSON Schema's integer is any number without a fraction (587.0 too): take it as one.
    return int(value) if isinstance(value, float) and value.is_integer() else value


Integral = BeforeValidator(_integral)
Id = Annotated[int, Field(ge=1, le=MAX_ID), Integral]
WindowHours = Annotated[int, Field(ge=1, le=24 * 366), Integral]

# DELETE removes a row nothing refers to and archives the others: they stay listed.
ARCHIVED = "`archived` after a DELETE of a row that others refer to (it stays listed)"

# Postbacks to the affiliate are signed with it when set; long enough not to be guessed.
SigningSecret = Annotated[str, Field(min_length=16, max_length=200, pattern=r"^[\x21-\x7e]+$")]


def _cidr(value: str) -> str:
    try:
        if not patterns.matches(patterns.NETWORK, value):
            raise ValueError
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP network such as 203.0.113.0/24") from None


def _email(value: str) -> str:
    try:
        if not patterns.matches(patterns.EMAIL, value):
            raise EmailNotValidError
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError:
        raise ValueError(f"{value[:100]!r} is not an e-mail address") from None


Cidr = Annotated[
    str,
    AfterValidator(_cidr),
    WithJsonSchema({"type": "string", "pattern": patterns.NETWORK}),
]
Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "maxLength": 254, "pattern": patterns.EMAIL}),
]


class Input(BaseModel):
    # Unknown fields are an error: a typo must not be silently ignored. Strict: JSON
    # `true` or "5" is not a number, nor 1 or "true" a boolean.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True)


def rule_shapes(
    fields: dict[str, JsonSchemaValue] | None = None,
    *,
    money: JsonSchemaValue = MONEY_SCHEMA,
    percent: JsonSchemaValue = PERCENT_SCHEMA,
) -> JsonSchemaValue:
    """A rule as two shapes told apart by `type`, exactly as the validator takes it (anyOf:
    the shapes cannot overlap, and generators filter oneOf's branches against each other);
    `fields` are the properties both shapes share."""
    fields = fields or {}
    return {
        "anyOf": [
            {
                "type": "object",
                "properties": {**fields, "type": {"const": kind}, "value": value},
                "required": [*fields, "type", "value"],
                "additionalProperties": False,
            }
            for kind, value in (("fixed", money), ("percent", percent))
        ],
        "discriminator": {"propertyName": "type"},
    }


class _Kinded(Protocol):
    type: Literal["fixed", "percent"]
    value: Decimal


R = TypeVar("R", bound=_Kinded)


def percent_in_range(rule: R) -> R:
    """A rule's own check (a model validator's): a percent is from 0 to 100."""
    if rule.type == "percent" and rule.value > 100:
        raise ValueError("a percent rule must be between 0 and 100")
    return rule


class _RuleShapes:
    """The JSON Schema of a rule: a fixed amount of money, or a percent from 0 to 100."""

    shared_fields: ClassVar[dict[str, JsonSchemaValue]] = {}

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        return {"title": cls.__name__, **rule_shapes(cls.shared_fields)}


class Rule(_RuleShapes, Input):
    """A money rule: a fixed amount, or a percent of the conversion's `amount`."""

    type: Literal["fixed", "percent"]
    value: Money

    @model_validator(mode="after")
    def _percent_range(self) -> Rule:
        return percent_in_range(self)


class Patch(Input):
    """A PATCH body: fields left out stay as they are; null clears only the `nullable` ones
    (the service refuses it for the others), and the schema offers null for those only."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        document: JsonSchemaValue = handler(schema)
        target = handler.resolve_ref_schema(document)
        for name, field in target.get("properties", {}).items():
            if name not in cls.nullable and "anyOf" in field:
                kept = [s for s in field["anyOf"] if s.get("type") != "null"]
                field.pop("anyOf")
                field.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        return document


ZERO_RULE = Rule(type="fixed", value=Decimal(0))


class Goal(Input):
    name: GoalName
    revenue: Rule
    payout: Rule
    allow_multiple: bool = Field(
        default=False, description="true: many conversions per click (recurring sales)"
    )


RECURRING_OVERRIDE_DOC = (
    "the affiliate's payout of a customer's conversions after the first (null: the "
    "override's own rule applies to them too)"
)


class PayoutOverride(_RuleShapes, Input):
    shared_fields: ClassVar[dict[str, JsonSchemaValue]] = {
        "affiliate_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    }

    affiliate_id: Id
    type: Literal["fixed", "percent"]
    value: Money
    recurring: Rule | None = Field(default=None, description=RECURRING_OVERRIDE_DOC)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: Any
    ) -> JsonSchemaValue:
        document = super().__get_pydantic_json_schema__(schema, handler)
        # Optional in both shapes: a rule of the same two shapes, or null.
        recurring = {
            "anyOf": [*rule_shapes()["anyOf"], {"type": "null"}],
            "description": RECURRING_OVERRIDE_DOC,
        }
        for shape in document["anyOf"]:
            shape["properties"]["recurring"] = recurring
        return document

    @model_validator(mode="after")
    def _percent_range(self) -> PayoutOverride:
        return percent_in_range(self)


class Cap(Input):
    metric: Literal["clicks", "conversions"]
    period: Literal["day", "month"]
    limit: Id
    affiliate_id: Id | None = None


# Each at most once (one per name is more than a JSON Schema can say; exact repeats it can).
class _UniqueItems:
    """Each at most once: one per name is more than a JSON Schema can say, repeats it can."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> JsonSchemaValue:
        return {**handler(schema), "uniqueItems": True}


Goals = Annotated[list[Goal], Field(max_length=50), _UniqueItems()]
PayoutOverrides = Annotated[list[PayoutOverride], Field(max_length=10_000), _UniqueItems()]
Caps = Annotated[list[Cap], Field(max_length=100), _UniqueItems()]
