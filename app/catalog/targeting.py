"""An offer's targeting: the countries a click may come from (or may not, with
`country_mode` "block") and the devices it may come from. An empty list lets every click
through; a click outside goes to the offer's fallback (app.redirect.targeting decides)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, Field, WithJsonSchema

from app.catalog.fields import Input
from app.partners.fields import COUNTRIES, Country

DEVICES = ("desktop", "mobile", "tablet")
Device = Literal["desktop", "mobile", "tablet"]
CountryMode = Literal["allow", "block"]
# What a click outside the targeting is stored with (clicks.diverted), by what it missed.
COUNTRY_REASON = "targeting_country"
DEVICE_REASON = "targeting_device"

COUNTRIES_DOC = (
    "ISO 3166-1 alpha-2 codes (upper case) of the visitor's country, as the click's IP "
    "address says; empty: every country"
)
COUNTRY_MODE_DOC = (
    "allow: only clicks from `countries` (one whose country is unknown is outside); "
    "block: every click but those from `countries`"
)
DEVICES_DOC = (
    "the visitor's device, as its user agent says (the stats' `device`); empty: every "
    "click. Listed, a bot's or an unrecognised device's click is outside"
)


T = TypeVar("T")


def _once(values: list[T]) -> list[T]:
    seen: set[T] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value} is listed twice")
        seen.add(value)
    return values


def _unique_schema(items: dict[str, Any], most: int, doc: str) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "array", "items": items, "maxItems": most, "uniqueItems": True, "description": doc}
    )


Countries = Annotated[
    list[Country],
    Field(max_length=len(COUNTRIES)),
    AfterValidator(_once),
    _unique_schema({"type": "string", "enum": COUNTRIES}, len(COUNTRIES), COUNTRIES_DOC),
]
Devices = Annotated[
    list[Device],
    Field(max_length=len(DEVICES)),
    AfterValidator(_once),
    _unique_schema({"type": "string", "enum": list(DEVICES)}, len(DEVICES), DEVICES_DOC),
]


class Targeting(Input):
    """Who an offer's clicks are for; a click outside goes to the fallback URL."""

    countries: Countries = Field(default_factory=list)
    country_mode: CountryMode = Field(default="allow", description=COUNTRY_MODE_DOC)
    devices: Devices = Field(default_factory=list)
