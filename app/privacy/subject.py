"""Whose personal data an erasure is for, and how a stored record is recognised as theirs."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from app.clickid import format_click_id, parse_click_id
from app.clicks import record as click_record
from app.privacy import anonymize


def click_uuid(text: str) -> uuid.UUID:
    """The UUID a 26-character click ID spells (any such text, ours or not: an ID that is
    not one of ours simply finds nothing)."""
    return uuid.UUID(bytes=base64.b32hexdecode(text.upper() + "======"))


Kind = Literal["click_id", "ip", "customer_id"]
KINDS: tuple[Kind, ...] = ("click_id", "ip", "customer_id")


@dataclass(frozen=True, slots=True)
class Subject:
    kind: Kind
    click_id: uuid.UUID | None = None
    # An address or network in its normal form (app.clicks.record.ip_text).
    ip: str | None = None
    customer_id: int | None = None
    # A customer's, as found by app/privacy/customers.py (None: erased already).
    external_id: str | None = None
    advertiser_id: int | None = None

    @staticmethod
    def of_click(click_id: uuid.UUID) -> Subject:
        return Subject(kind="click_id", click_id=click_id)

    @staticmethod
    def of_ip(ip: str) -> Subject:
        normal = click_record.ip_text(ip)
        if normal is None:
            raise ValueError(f"not an IP address or network: {ip!r}")
        return Subject(kind="ip", ip=normal)

    @staticmethod
    def of_customer(customer_id: int) -> Subject:
        return Subject(kind="customer_id", customer_id=customer_id)

    def recorded(self) -> str:
        """What the erasure record keeps of the subject: never an erased IP address
        itself, but the network IP_ANONYMIZE would keep of it."""
        if self.click_id is not None:
            return format_click_id(self.click_id)
        if self.ip is not None:
            return self.ip if "/" in self.ip else anonymize.truncate(self.ip)
        return str(self.customer_id)

    def needles(self) -> list[bytes]:
        """How the subject reads inside a record that cannot be parsed."""
        if self.click_id is not None:
            return [format_click_id(self.click_id).encode(), str(self.click_id).encode()]
        if self.ip is not None:
            return [self.ip.encode()]
        if self.external_id is not None:
            # Any text: a short one is looked for as the JSON string it is in a record.
            quoted = orjson.dumps(self.external_id)
            return [self.external_id.encode()] if len(self.external_id) >= 8 else [quoted]
        return []

    def matches_click(self, rec: dict[str, Any]) -> bool:
        """Whether a click record (its JSON object) is the subject's."""
        if self.click_id is not None:
            value = rec.get("id")
            return isinstance(value, str) and parse_click_id(value) == self.click_id
        if self.ip is not None:
            value = rec.get("ip")
            return isinstance(value, str) and click_record.ip_text(value) == self.ip
        return False

    def matches_conversion(self, rec: dict[str, Any]) -> bool:
        """Whether a conversion record (its JSON object) names the subject's customer: its
        advertiser's postback, or a pixel (whose advertiser is its click's offer's, not in
        the record: a pixel naming the same external ID for another advertiser loses it
        too, and is then stored as it would have been without it)."""
        if self.external_id is None:
            return False
        adv = rec.get("adv")
        return rec.get("cu") == self.external_id and (adv is None or adv == self.advertiser_id)
