"""What a CRM call says, read through the integration's maps: pure, no I/O.

`field_map` names where the CRM puts each thing the tracker needs (the click ID, the deal
ID that becomes the conversion's `txid`, the stage, the amount, its currency, the customer
ID); `stage_map` turns a stage name into a conversion status and, optionally, a goal. A
field is a property name (looked up as the provider's bodies carry properties) or, when it
starts with `/`, a JSON pointer (RFC 6901) into the body; generic integrations take
pointers only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app.errors import BadRequest

FIELDS = ("click_id", "txid", "stage", "amount", "currency", "customer_id")
# What each CRM calls them out of the box (the README's "CRM integrations" says where
# each comes from); a field_map given at creation overrides any of them.
DEFAULT_FIELDS: dict[str, dict[str, str]] = {
    "hubspot": {
        "click_id": "tracker_click_id",
        "txid": "hs_object_id",
        "stage": "dealstage",
        "amount": "amount",
        "currency": "deal_currency_code",
    },
    "salesforce": {
        "click_id": "Tracker_Click_ID__c",
        "txid": "Id",
        "stage": "StageName",
        "amount": "Amount",
        "currency": "CurrencyIsoCode",
    },
    "zoho": {
        "click_id": "click_id",
        "txid": "deal_id",
        "stage": "stage",
        "amount": "amount",
        "currency": "currency",
    },
    "generic": {},
}
# A generic body has no names of its own: these pointers must be given.
GENERIC_REQUIRED = ("click_id", "txid", "stage")


class InvalidCall(BadRequest):
    code = "invalid_body"


def resolve_pointer(document: object, pointer: str) -> object | None:
    """The value `pointer` points at, or None when nothing is there."""
    current = document
    for token in pointer[1:].split("/"):
        name = token.replace("~1", "/").replace("~0", "~")
        if isinstance(current, dict):
            if name not in current:
                return None
            current = current[name]
        elif isinstance(current, list):
            if not (name.isascii() and name.isdigit()) or (len(name) > 1 and name[0] == "0"):
                return None
            index = int(name)
            if index >= len(current):
                return None
            current = current[index]
        else:
            return None
    return current


def field_map_for(provider: str, given: Mapping[str, str]) -> dict[str, str]:
    """The integration's whole field map: the provider's defaults, then what was given
    (the request schema has checked each pointer's syntax)."""
    return {**DEFAULT_FIELDS[provider], **given}


def generic_problem(fields: Mapping[str, str]) -> str | None:
    """What a generic integration's field map lacks: it must point at these three."""
    if missing := [name for name in GENERIC_REQUIRED if name not in fields]:
        return f"a generic integration needs field_map.{missing[0]} (a JSON pointer)"
    if bad := [name for name, field in fields.items() if not field.startswith("/")]:
        return f"field_map.{bad[0]}: a generic integration takes JSON pointers only"
    return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a stage means: a status, and the goal (None: the offer's main goal)."""

    status: str
    goal: str | None


def outcome_of(stage_map: Mapping[str, Any], stage: str) -> Outcome | None:
    """The stage's outcome; a stage not named exactly is looked for ignoring case."""
    entry = stage_map.get(stage)
    if entry is None:
        folded = stage.casefold()
        entry = next((v for k, v in stage_map.items() if k.casefold() == folded), None)
    if entry is None:
        return None
    if isinstance(entry, str):
        return Outcome(entry, None)
    return Outcome(str(entry["status"]), entry.get("goal"))


def scalar(name: str, value: object) -> str | int | float | None:
    """A field's value as the postback parameters take it; InvalidCall for others."""
    if isinstance(value, dict) and "value" in value:
        # HubSpot's object API writes a property as {"value": ..., "versions": [...]}.
        value = value["value"]
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    raise InvalidCall(f"{name}: must be a string or a number")


def text(name: str, value: object) -> str | None:
    found = scalar(name, value)
    if found is None:
        return None
    written = repr(found) if isinstance(found, float) else str(found)
    return written.strip() or None


def lookup_property(body: Mapping[str, Any], field: str) -> object | None:
    """A named property of a flat body, or of its `properties` object (HubSpot)."""
    if field.startswith("/"):
        return resolve_pointer(body, field)
    if field in body:
        found: object = body[field]
        return found
    properties = body.get("properties")
    if isinstance(properties, dict):
        nested: object = properties.get(field)
        return nested
    return None
