"""The offer form of the managers' console: an offer as the form's fields, the fields as
the body the offers API takes (validated by its own OfferIn and OfferPatch, so every rule
and message is the API's), and each message set beside the field it is about.

A field's name is its path in the API's body (`revenue.value`, `goals.0.payout.type`), so
the API's error paths name the fields too.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from app import errors
from app.catalog.schemas import OfferFields, OfferIn, OfferOut, OfferPatch
from app.catalog.targeting import DEVICES, Targeting
from app.errors import AppError

# Every field of an offer's form but the lists; `advertiser_id` and `status` only when it
# is made (an offer's advertiser stays; its status changes by Pause and Activate).
FIELDS = (
    "name",
    "url",
    "fallback_url",
    "currency",
    "attribution_window_hours",
    "main_goal",
    "main_goal_multiple",
    "revenue.type",
    "revenue.value",
    "payout.type",
    "payout.value",
    "allow_payout_param",
    "max_amount",
    "pixel_policy",
    "pixel_status",
    "attribution_model",
    "lifetime_days",
    "recurring_payout.type",
    "recurring_payout.value",
    "recurring_limit",
    "hold_days",
)
CREATE_ONLY = ("advertiser_id", "status")
# Each list's columns, and those whose text says a row is used (an empty row is left out:
# the form always has spare rows to fill).
ROWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "goals": (
        ("name", "revenue.type", "revenue.value", "payout.type", "payout.value", "allow_multiple"),
        ("name", "revenue.value", "payout.value"),
    ),
    "payout_overrides": (
        ("affiliate_id", "type", "value", "recurring.type", "recurring.value"),
        ("affiliate_id", "value", "recurring.value"),
    ),
    "caps": (("metric", "period", "limit", "affiliate_id"), ("limit", "affiliate_id")),
}
SPARE_ROWS = 2
# Beyond the API's longest list (10,000 overrides): row numbers past it are not read.
MAX_ROW = 10_050
INTEGERS = frozenset(
    {
        "advertiser_id",
        "attribution_window_hours",
        "lifetime_days",
        "recurring_limit",
        "hold_days",
        "affiliate_id",
        "limit",
    }
)
CHECKBOXES = frozenset({"main_goal_multiple", "allow_payout_param", "allow_multiple"})
# Text fields whose blank means "none" (null in the API).
BLANK_IS_NULL = frozenset({"fallback_url", "max_amount"})
# Rules that may be absent: a blank type is null (the offer's payout rule applies).
OPTIONAL_RULES = ("recurring_payout", "recurring")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_ROW = re.compile(r"^(goals|payout_overrides|caps)\.([0-9]{1,5})\.")
# A message about the whole body (a rule across a list's items) goes to that list.
_ABOUT = (("payout override", "payout_overrides"), ("cap", "caps"), ("goal", "goals"))
_REFERENCE = re.compile(r"^(advertiser|affiliate) ([0-9]+) ")
# Targeting's fields: the countries as one text of codes, a checkbox per device.
COUNTRIES_FIELD = "targeting.countries"
COUNTRY_MODE_FIELD = "targeting.country_mode"
DEVICE_FIELD = "targeting.devices.{}"
_TARGETING_LIST = re.compile(r"^(targeting\.(?:countries|devices))\.[0-9]+$")
_CODES = re.compile(r"[\s,;]+")


@dataclass
class OfferForm:
    """What the form shows: its values by field name, how many rows each list has, the
    messages beside fields (a list's own under its name) and those about the whole."""

    values: dict[str, str]
    rows: dict[str, int]
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    general: list[str] = field(default_factory=list)
    # Which form row each row of the body came from (empty rows are left out).
    _kept: dict[str, dict[int, int]] = field(default_factory=dict)

    def said(self, message: str, name: str | None = None) -> None:
        if name is None:
            self.general.append(message)
        else:
            self.errors[name].append(message)

    def list_errors(self, name: str) -> list[str]:
        """The messages about a list, and about its rows as a whole ("Row 2: ...")."""
        said = list(self.errors.get(name, []))
        for key, messages in self.errors.items():
            row = key.removeprefix(f"{name}.")
            if row != key and row.isdigit():
                said += [f"Row {int(row) + 1}: {m}" for m in messages]
        return said


def _flat(value: Any, prefix: str, into: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flat(item, f"{prefix}{key}.", into)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flat(item, f"{prefix}{index}.", into)
    elif isinstance(value, bool):
        into[prefix[:-1]] = "on" if value else ""
    else:
        into[prefix[:-1]] = "" if value is None else str(value)


def _targeting_values(targeting: Targeting) -> dict[str, str]:
    values = {
        COUNTRIES_FIELD: " ".join(targeting.countries),
        COUNTRY_MODE_FIELD: targeting.country_mode,
    }
    values.update({DEVICE_FIELD.format(d): "on" for d in targeting.devices})
    return values


def _targeting_body(fields: dict[str, str]) -> dict[str, Any]:
    """The API's targeting of the form's fields: codes parted by spaces or commas, as
    typed (the API says what is wrong with one)."""
    return {
        "countries": [c for c in _CODES.split(fields.get(COUNTRIES_FIELD, "")) if c],
        "country_mode": fields.get(COUNTRY_MODE_FIELD, "allow"),
        "devices": [d for d in DEVICES if fields.get(DEVICE_FIELD.format(d))],
    }


def _form_of(model: BaseModel, extra: dict[str, str], spare: int) -> OfferForm:
    values: dict[str, str] = {}
    dumped = model.model_dump(mode="json")
    targeting = Targeting.model_validate(dumped.pop("targeting", None) or {})
    _flat(dumped, "", values)
    values.update(_targeting_values(targeting))
    rows = {name: len(getattr(model, name)) + spare for name in ROWS}
    return OfferForm({**values, **extra}, rows)


def new_form() -> OfferForm:
    """An empty form with the API's defaults."""
    return _form_of(OfferFields.model_construct(), {"status": "active"}, SPARE_ROWS)


def offer_form(offer: OfferOut, *, spare: int = SPARE_ROWS) -> OfferForm:
    """The offer's form, with `spare` empty rows in each list to add one."""
    return _form_of(offer, {}, spare)


def _value(name: str, text: str | None) -> Any:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in CHECKBOXES:
        return bool(text)
    text = (text or "").strip()
    if leaf in INTEGERS:
        # Not a whole number: given as typed, for the API's own message about it.
        return (int(text) if _INTEGER.fullmatch(text) else text) if text else None
    return None if not text and leaf in BLANK_IS_NULL else text


def _part(fields: dict[str, str], prefix: str, names: tuple[str, ...]) -> dict[str, Any]:
    """The fields `prefix + name` as the API's nested object."""
    part: dict[str, Any] = {}
    for name in names:
        *path, leaf = name.split(".")
        target = part
        for step in path:
            target = target.setdefault(step, {})
        target[leaf] = _value(name, fields.get(prefix + name))
    for rule in OPTIONAL_RULES:
        if rule in part and not part[rule]["type"]:
            part[rule] = None
    return part


def submitted(fields: dict[str, str]) -> OfferForm:
    """The form as it was sent (every row of it), to show again."""
    rows = dict.fromkeys(ROWS, 0)
    for name in fields:
        match = _ROW.match(name)
        if match and int(match[2]) < MAX_ROW:
            rows[match[1]] = max(rows[match[1]], int(match[2]) + 1)
    return OfferForm(dict(fields), rows)


def body(form: OfferForm, *, creating: bool) -> dict[str, Any]:
    """The offers API's body of the form: its fields, each list's used rows."""
    fields = form.values
    data = _part(fields, "", FIELDS + (CREATE_ONLY if creating else ()))
    data["targeting"] = _targeting_body(fields)
    for name, (columns, used) in ROWS.items():
        form._kept[name] = {}
        items: list[dict[str, Any]] = []
        for row in range(form.rows[name]):
            prefix = f"{name}.{row}."
            if any(fields.get(prefix + column, "").strip() for column in used):
                form._kept[name][len(items)] = row
                items.append(_part(fields, prefix, columns))
        data[name] = items
    return data


def validated(form: OfferForm, *, creating: bool) -> OfferIn | OfferPatch | None:
    """The body as the API's model; None when the API would refuse it, its messages then
    set on the form."""
    model: type[OfferIn | OfferPatch] = OfferIn if creating else OfferPatch
    try:
        return model.model_validate(body(form, creating=creating))
    except ValidationError as exc:
        for problem in errors.problems(exc.errors()):
            _place(form, problem["field"], problem["message"])
        return None


def _place(form: OfferForm, path: str, message: str) -> None:
    """A message of the API at the form field its path names (a body row mapped back to
    the form's row); one about the whole body at the list it speaks of, else on top."""
    parts = path.split(".")
    kept = form._kept.get(parts[0])
    if kept is not None and len(parts) > 1 and parts[1].isdigit():
        parts[1] = str(kept.get(int(parts[1]), parts[1]))
    # A targeted country's message is the countries field's (the form has one for all).
    listed = _TARGETING_LIST.match(".".join(parts))
    if listed:
        parts = listed[1].split(".")
    if parts != ["body"]:
        form.said(message, ".".join(parts))
    else:
        _about(form, message)


def _about(form: OfferForm, message: str) -> None:
    form.said(message, next((name for words, name in _ABOUT if words in message), None))


def refused(form: OfferForm, exc: AppError) -> None:
    """A refusal of the offers service, beside the field it names: `name: ...`, or the
    advertiser or affiliate whose ID a field holds; else on top."""
    named, _, rest = exc.message.partition(": ")
    if rest and named in form.values:
        form.said(rest, named)
        return
    reference = _REFERENCE.match(exc.message)
    if reference:
        holders = [
            name
            for name, value in form.values.items()
            if name.endswith(f"{reference[1]}_id") and value.strip() == reference[2]
        ]
        for name in holders:
            form.said(exc.message, name)
        if holders:
            return
    _about(form, exc.message)
