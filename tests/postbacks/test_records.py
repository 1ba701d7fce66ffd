"""The conversions stream's record: what intake queues is what the worker reads, records
queued before customers (no `cu`, `cp`) still decode, and a bad one is poison."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

import orjson
import pytest

from app.clickid import new_click_id, parse_click_id
from app.postbacks.records import ConversionParams, ConversionRecord, Said, decode, encode_said
from app.streams.records import PoisonRecord
from tests.helpers import new_click_uuid


def _record(**fields: object) -> ConversionRecord:
    base: dict[str, object] = {
        "via": "postback",
        "advertiser_id": 3,
        "click_id": parse_click_id(new_click_id()[0]),
        "txid": "T-1",
        "amount": None,
        "payout": None,
        "currency": None,
        "status": "approved",
        "event": None,
        "received_us": 1_700_000_000_000_000,
    }
    return ConversionRecord(**{**base, **fields})  # type: ignore[arg-type]


def test_customer_and_coupon_round_trip_and_a_record_may_have_no_click() -> None:
    for record in (
        _record(customer_id="C-1", coupon="SAVE10"),
        _record(click_id=None, customer_id="ü" * 255, offer_id=7),
        _record(click_id=None, coupon="x"),
    ):
        assert decode(record.encode()) == record


def test_a_record_queued_before_customers_still_decodes() -> None:
    record = _record()
    old = orjson.loads(record.encode())
    del old["cu"], old["cp"]
    assert decode(orjson.dumps(old)) == record


@pytest.mark.parametrize(
    "fields",
    [
        {"click_id": None},  # neither coupon nor customer
        {"click_id": None, "txid": None, "customer_id": "C"},  # no txid to tell orders apart
        {"via": "pixel", "advertiser_id": None, "click_id": None, "customer_id": "C"},
    ],
)
def test_a_record_without_a_click_needs_a_txid_and_a_coupon_or_customer(
    fields: dict[str, object],
) -> None:
    with pytest.raises(PoisonRecord):
        decode(_record(**fields).encode())


def test_a_record_whose_customer_was_erased_names_it_by_id_and_needs_no_click() -> None:
    # What app/privacy makes of a waiting record: `cu` gone, `cux` the service's ID.
    record = _record(click_id=None, erased_customer=12)
    raw = orjson.loads(record.encode())
    assert (raw["cux"], raw["cu"]) == (12, None)
    del raw["cu"]
    assert decode(orjson.dumps(raw)) == record
    assert "cux" not in orjson.loads(_record().encode())
    assert decode(record.retried().encode()).erased_customer == 12
    for bad in ("12", -1, True):
        with pytest.raises(PoisonRecord):
            decode(orjson.dumps({**raw, "cux": bad}))


def test_a_customer_id_that_is_not_text_is_poison() -> None:
    raw = orjson.loads(_record().encode())
    raw["cu"] = 5
    with pytest.raises(PoisonRecord):
        decode(orjson.dumps(raw))


def test_a_record_round_trips_and_names_its_click_in_the_canonical_uuid_form() -> None:
    record = ConversionRecord(
        via="postback",
        advertiser_id=7,
        click_id=new_click_uuid(),
        txid="ORDER-1",
        amount=Decimal("49.90"),
        payout=Decimal("0.10"),
        currency="EUR",
        status="pending",
        event="sale",
        received_us=1_796_000_000_000_000,
    )
    encoded = record.encode()
    assert orjson.loads(encoded)["cid"] == str(record.click_id)
    assert decode(encoded) == record
    assert decode(record.retried().encode()) == record.retried()


def test_a_postback_encoded_from_what_was_said_is_the_records_bytes() -> None:
    """judge encodes without building the record: the same bytes `encode` gives."""
    said = ConversionParams(
        click_id=new_click_uuid(),
        txid="t-1",
        amount=Decimal("10.50"),
        payout=None,
        currency="EUR",
        status="pending",
        event="sale",
        offer_id=7,
        customer_id="c",
        coupon="SAVE",
    )
    record = ConversionRecord.of(said, via="postback", advertiser_id=3, received_us=123)
    assert encode_said(said, via="postback", advertiser_id=3, received_us=123) == record.encode()
    assert decode(record.encode()) == record


def test_said_is_conversion_params_as_a_tuple() -> None:
    assert Said._fields == tuple(field.name for field in fields(ConversionParams))
