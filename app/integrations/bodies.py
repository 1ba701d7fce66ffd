"""The deals a CRM call carries, read from its body through the field map (no I/O).

- HubSpot: a workflow's "Send a webhook" body (the enrolled deal's properties, flat or
  under `properties`, as values or HubSpot's `{"value": ...}`), or a webhooks-API batch:
  a JSON array of events, of which each `deal.propertyChange` of the stage property is a
  deal with only its ID (`objectId`) and new stage (`propertyValue`).
- Salesforce, generic: one JSON object (generic: any JSON, read by pointers).
- Zoho: a form or a JSON object of the workflow's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl

import orjson

from app.integrations.mapping import InvalidCall, lookup_property, resolve_pointer, scalar, text

MAX_EVENTS = 100


@dataclass(frozen=True, slots=True)
class Deal:
    txid: str | None
    stage: str | None
    click_id: str | None = None
    amount: str | int | float | None = None
    currency: str | None = None
    customer_id: str | None = None
    # Why a deal is left out without being an error (an event of another kind).
    skip: str | None = None


class UnsupportedMediaType(InvalidCall):
    status = 415
    code = "unsupported_media_type"


def _json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidCall("the body is not valid JSON", code="invalid_json") from None


def _media(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json(media: str) -> bool:
    return media in ("application/json", "") or media.endswith("+json")


def _read(document: Any, fields: Mapping[str, str], *, pointers_only: bool) -> Deal:
    def get(name: str) -> object | None:
        field = fields.get(name)
        if field is None:
            return None
        if field.startswith("/"):
            return resolve_pointer(document, field)
        if pointers_only or not isinstance(document, dict):
            return None
        return lookup_property(document, field)

    return Deal(
        txid=text("txid", get("txid")),
        stage=text("stage", get("stage")),
        click_id=text("click_id", get("click_id")),
        amount=scalar("amount", get("amount")),
        currency=text("currency", get("currency")),
        customer_id=text("customer_id", get("customer_id")),
    )


def _hubspot_event(event: object, stage_property: str) -> Deal:
    if not isinstance(event, dict):
        raise InvalidCall("each event must be an object")
    kind = event.get("subscriptionType")
    object_id = text("objectId", event.get("objectId"))
    if kind != "deal.propertyChange" or event.get("propertyName") != stage_property:
        return Deal(txid=object_id, stage=None, skip=f"not a change of {stage_property}")
    return Deal(txid=object_id, stage=text("propertyValue", event.get("propertyValue")))


def _occurred_at(event: object) -> int:
    at = event.get("occurredAt") if isinstance(event, dict) else None
    return at if isinstance(at, int) and not isinstance(at, bool) else 0


def hubspot(body: bytes, content_type: str, fields: Mapping[str, str]) -> list[Deal]:
    if not _is_json(_media(content_type)):
        raise UnsupportedMediaType("HubSpot sends JSON")
    document = _json(body)
    if isinstance(document, list):
        if not document or len(document) > MAX_EVENTS:
            raise InvalidCall(f"a batch holds 1 to {MAX_EVENTS} events")
        stage_property = fields.get("stage", "dealstage")
        # In the order they happened: the later change of a deal is the one in force.
        ordered = sorted(document, key=_occurred_at)
        return [_hubspot_event(event, stage_property) for event in ordered]
    if not isinstance(document, dict):
        raise InvalidCall("the body must be a JSON object or an array of events")
    deal = _read(document, fields, pointers_only=False)
    if deal.txid is None and "txid" in fields and not fields["txid"].startswith("/"):
        # Besides its properties, a workflow body names the enrolled deal: `dealId` in the
        # object API's (legacy) shape, `objectId` in the newer one.
        for name in ("objectId", "dealId"):
            if (object_id := text(name, document.get(name))) is not None:
                return [replace(deal, txid=object_id)]
    return [deal]


def json_object(body: bytes, content_type: str, fields: Mapping[str, str]) -> list[Deal]:
    """Salesforce: a Flow or Apex callout's JSON object."""
    if not _is_json(_media(content_type)):
        raise UnsupportedMediaType("send the deal as a JSON object")
    document = _json(body)
    if not isinstance(document, dict):
        raise InvalidCall("the body must be a JSON object")
    return [_read(document, fields, pointers_only=False)]


def generic(body: bytes, content_type: str, fields: Mapping[str, str]) -> list[Deal]:
    if not _is_json(_media(content_type)):
        raise UnsupportedMediaType("send JSON")
    return [_read(_json(body), fields, pointers_only=True)]


def zoho(body: bytes, content_type: str, fields: Mapping[str, str]) -> list[Deal]:
    media = _media(content_type)
    if media == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise InvalidCall("the form body is not UTF-8 and URL-encoded") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            form.setdefault(name, value)
        return [_read(form, fields, pointers_only=False)]
    if not _is_json(media):
        raise UnsupportedMediaType("send the deal as a form or a JSON object")
    document = _json(body)
    if not isinstance(document, dict):
        raise InvalidCall("the body must be a JSON object")
    return [_read(document, fields, pointers_only=False)]


READERS = {"hubspot": hubspot, "salesforce": json_object, "zoho": zoho, "generic": generic}
