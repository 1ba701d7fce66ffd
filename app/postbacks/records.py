"""The conversion record on the `conversions` stream: what intake queues, what attribution reads.

Intake only checks what it can check without the database (token, syntax, money); the
worker does the rest. Keys are short because every record crosses Redis twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple

import orjson

from app.streams.records import PoisonRecord, load_record

Via = Literal["postback", "pixel"]
STATUSES = ("approved", "pending", "rejected")
# The member holding the advertiser's ID of the buyer (personal data), and the one an
# erased record has instead: the service's customer ID.
CUSTOMER_MEMBER = "cu"
ERASED_CUSTOMER = "cux"


@dataclass(frozen=True, slots=True)
class ConversionParams:
    """What a postback, pixel or CRM call says of a conversion (app/postbacks/params.py)."""

    # None for a postback that names a coupon or customer_id instead (never for a pixel).
    click_id: uuid.UUID | None
    txid: str | None
    amount: Decimal | None
    payout: Decimal | None
    currency: str | None
    status: str
    event: str | None
    # A pixel may name its offer, so that it can be kept as unattributed when its click
    # never arrives (a postback knows its advertiser from the token).
    offer_id: int | None = None
    # The advertiser's own ID of the buyer, and the coupon code sent (issue 13); records
    # queued before them have neither.
    customer_id: str | None = None
    coupon: str | None = None


class Said(NamedTuple):
    """ConversionParams as a tuple, its fields in its order: what intake's hot path
    (app.postbacks.service.judge) encodes without building the frozen dataclass."""

    click_id: uuid.UUID | None
    txid: str | None
    amount: Decimal | None
    payout: Decimal | None
    currency: str | None
    status: str
    event: str | None
    offer_id: int | None
    customer_id: str | None
    coupon: str | None


# What a ConversionRecord takes from the params as said: read once (`fields()` builds its
# tuple on every call, a tenth of a postback's own CPU in a profile).
_SAID = tuple(f.name for f in fields(ConversionParams))


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversionRecord(ConversionParams):
    """The conversion as queued: what was said, who said it and when."""

    via: Via
    # The advertiser whose token authenticated the postback; None for a pixel, whose
    # advertiser is the one of the click's offer.
    advertiser_id: int | None
    # Microseconds: postbacks for one txid are ordered by it (see attribution).
    received_us: int
    attempts: int = 0
    # The service's ID of the customer whose `customer_id` was erased (app/privacy) while
    # this record waited: the record still counts for that customer, without naming it.
    erased_customer: int | None = None

    @classmethod
    def of(
        cls,
        said: ConversionParams,
        *,
        via: Via,
        advertiser_id: int | None,
        received_us: int,
        **instead: Any,
    ) -> ConversionRecord:
        """The record of what was said, with `instead` overriding what is not taken as said."""
        values = {name: getattr(said, name) for name in _SAID}
        return cls(
            **(values | instead), via=via, advertiser_id=advertiser_id, received_us=received_us
        )

    def encode(self) -> bytes:
        if self.erased_customer is not None:
            rec = orjson.loads(self._encode())
            return orjson.dumps({**rec, ERASED_CUSTOMER: self.erased_customer})
        return self._encode()

    def _encode(self) -> bytes:
        return encode_said(
            self,
            via=self.via,
            advertiser_id=self.advertiser_id,
            received_us=self.received_us,
            attempts=self.attempts,
        )

    def retried(self) -> ConversionRecord:
        return replace(self, attempts=self.attempts + 1)


def encode_said(
    said: ConversionParams | Said,
    *,
    via: Via,
    advertiser_id: int | None,
    received_us: int,
    attempts: int = 0,
) -> bytes:
    """The record of what was said, encoded: `ConversionRecord.encode` without an erased
    customer, and a postback's without building the record (intake's hot path)."""
    return orjson.dumps(
        {
            "v": via,
            "adv": advertiser_id,
            # orjson writes a UUID in the canonical form str() gives, without the call.
            "cid": said.click_id,
            "tx": said.txid,
            "amt": None if said.amount is None else str(said.amount),
            "pay": None if said.payout is None else str(said.payout),
            "cur": said.currency,
            "st": said.status,
            "ev": said.event,
            "tu": received_us,
            "off": said.offer_id,
            "n": attempts,
            "cu": said.customer_id,
            "cp": said.coupon,
        }
    )


def _opt_str(rec: dict[str, Any], key: str) -> str | None:
    value = rec.get(key)
    if value is not None and not isinstance(value, str):
        raise PoisonRecord(f"bad {key}")
    return value


def _opt_int(rec: dict[str, Any], key: str) -> int | None:
    value = rec.get(key)
    if value is not None and (
        not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**63
    ):
        # Past BIGINT a value would fail in PostgreSQL, on every retry of its batch.
        raise PoisonRecord(f"bad {key}")
    return value


def _opt_decimal(rec: dict[str, Any], key: str) -> Decimal | None:
    text = _opt_str(rec, key)
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise PoisonRecord(f"bad {key}") from None
    if not value.is_finite() or value < 0:
        raise PoisonRecord(f"bad {key}")
    return value


def decode(raw: bytes) -> ConversionRecord:
    rec = load_record(raw, "conversion")
    via = rec.get("v")
    if via not in ("postback", "pixel"):
        raise PoisonRecord("bad via")
    cid = rec.get("cid")
    click_id: uuid.UUID | None = None
    if cid is not None or via == "pixel":
        try:
            click_id = uuid.UUID(str(cid))
        except ValueError:
            raise PoisonRecord("bad click id") from None
    status = rec.get("st")
    if status not in STATUSES:
        raise PoisonRecord("bad status")
    advertiser_id = _opt_int(rec, "adv")
    if via == "postback" and advertiser_id is None:
        raise PoisonRecord("a postback without its advertiser")
    received = _opt_int(rec, "tu")
    if received is None:
        raise PoisonRecord("no receive time")
    customer_id, coupon = _opt_str(rec, CUSTOMER_MEMBER), _opt_str(rec, "cp")
    erased_customer = _opt_int(rec, ERASED_CUSTOMER)
    txid = _opt_str(rec, "tx")
    named = customer_id is not None or erased_customer is not None or coupon is not None
    if click_id is None and (txid is None or not named):
        raise PoisonRecord("a postback without a click needs a txid and a coupon or customer")
    return ConversionRecord(
        via=via,
        advertiser_id=advertiser_id,
        click_id=click_id,
        txid=txid,
        amount=_opt_decimal(rec, "amt"),
        payout=_opt_decimal(rec, "pay"),
        currency=_opt_str(rec, "cur"),
        status=status,
        event=_opt_str(rec, "ev"),
        received_us=received,
        offer_id=_opt_int(rec, "off"),
        attempts=_opt_int(rec, "n") or 0,
        customer_id=customer_id,
        coupon=coupon,
        erased_customer=erased_customer,
    )
