"""A click on the stream: the one place that writes and reads its JSON record.

The redirect encodes it; the worker decodes it (then enriches and stores it). The click
caps script may add one member, CAPPED_MEMBER, before the closing brace: that works
whatever the order of the other members, because a click that counts against caps is
never diverted already, so its record has no "d" to clash with (`encode` leaves "d" out
when there is no reason).

An erased click (app/privacy) has no "ip", "ua", "ref" and "al" members but an "x" member
instead: what enrichment made of them before they were erased, [country, device, os,
browser, is_bot, is_unique] (the last two 0 or 1), so that it is stored with the same
dimensions and counts as it would have been.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from app.clickid import parse_click_id
from app.macros import SUB_IDS
from app.streams.records import PoisonRecord, load_record

SUB_NAMES = (*SUB_IDS, "source", "aff_click_id")
# JSON text of the member the caps script appends to a click over its cap.
CAPPED_MEMBER = '"d":"cap"'
# The members holding personal data, and the one an erased record has instead.
PERSONAL_MEMBERS = ("ip", "ua", "ref", "al")
ERASED_MEMBER = "x"


def encode(
    click_id: str,
    ms: int,
    link_id: int,
    affiliate_id: int,
    offer_id: int,
    currency: str,
    diverted: str | None,
    subs: dict[str, str],
    ip: str,
    user_agent: str | None,
    referer: str | None,
    accept_language: str | None,
    head: bool,
) -> bytes:
    """The record of a click; `subs` are its storable sub-ID values by name."""
    rec: dict[str, Any] = {
        "id": click_id,
        "t": ms,
        "l": link_id,
        "a": affiliate_id,
        "o": offer_id,
        "s": subs,
        "ip": ip,
        "ua": user_agent,
        "ref": referer,
        "al": accept_language,
        "h": head,
        "c": currency,
    }
    if diverted is not None:
        rec["d"] = diverted
    return orjson.dumps(rec)


@dataclass(slots=True)
class ClickRecord:
    click_id: uuid.UUID
    ms: int
    link_id: int
    affiliate_id: int
    offer_id: int
    currency: str
    # Why the visitor went to the fallback ("paused", "cap", ...), if they did.
    diverted: str | None
    # Every name of SUB_NAMES, None when the click had no such parameter.
    subs: dict[str, str | None]
    ip: str | None
    user_agent: str | None
    referer: str | None
    accept_language: str | None
    head: bool
    # An erased click's enrichment, kept from before its personal data was erased.
    erased: Erased | None = None


@dataclass(frozen=True, slots=True)
class Erased:
    country: str | None
    device: str
    os: str
    browser: str
    is_bot: bool
    is_unique: bool

    def member(self) -> list[Any]:
        return [
            self.country,
            self.device,
            self.os,
            self.browser,
            int(self.is_bot),
            int(self.is_unique),
        ]


def _erased(value: Any) -> Erased | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 6:
        raise PoisonRecord("bad erased click")
    country, device, os_name, browser, is_bot, is_unique = value
    texts = (device, os_name, browser)
    if not all(isinstance(v, str) for v in texts) or not (
        country is None or (isinstance(country, str) and len(country) == 2)
    ):
        raise PoisonRecord("bad erased click")
    if is_bot not in (0, 1) or is_unique not in (0, 1):
        raise PoisonRecord("bad erased click")
    return Erased(country, device, os_name, browser, bool(is_bot), bool(is_unique))


def ip_text(value: str) -> str | None:
    """An address, or a network as IP_ANONYMIZE keeps it, in its normal form; None if
    it is neither."""
    try:
        if "/" in value:
            return str(ipaddress.ip_network(value, strict=False))
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def text(value: Any) -> str | None:
    """A text member as PostgreSQL can store it (no NUL); PoisonRecord if not text."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise PoisonRecord(f"expected text, got {type(value).__name__}")
    return value.replace("\x00", "\ufffd")


def _id(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PoisonRecord(f"bad {name}")
    return value


def decode(raw: bytes) -> ClickRecord:
    """A click from its stream record; PoisonRecord if it is not one."""
    rec = load_record(raw, "click")
    click_uuid: uuid.UUID | None = (
        parse_click_id(rec["id"]) if isinstance(rec.get("id"), str) else None
    )
    if click_uuid is None:
        raise PoisonRecord("bad click id")
    ms = rec.get("t")
    if not isinstance(ms, int) or ms != click_uuid.int >> 80:
        raise PoisonRecord("click time does not match its id")
    subs = rec.get("s") or {}
    if not isinstance(subs, dict):
        raise PoisonRecord("bad sub-ids")
    raw_ip = text(rec.get("ip")) or ""
    ip = ip_text(raw_ip) if raw_ip else None
    currency = rec.get("c") if isinstance(rec.get("c"), str) else "USD"
    # Keyword arguments are evaluated in order: the first fault found is the one a
    # poison record is dead-lettered with, as it always was.
    return ClickRecord(
        click_id=click_uuid,
        ms=ms,
        ip=ip,
        user_agent=text(rec.get("ua")),
        head=bool(rec.get("h")),
        currency=str(currency)[:3],
        link_id=_id(rec.get("l"), "link id"),
        affiliate_id=_id(rec.get("a"), "affiliate id"),
        offer_id=_id(rec.get("o"), "offer id"),
        subs={name: text(subs.get(name)) for name in SUB_NAMES},
        referer=text(rec.get("ref")),
        accept_language=text(rec.get("al")),
        diverted=text(rec.get("d")),
        erased=_erased(rec.get(ERASED_MEMBER)),
    )
