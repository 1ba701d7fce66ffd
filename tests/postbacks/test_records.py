"""The conversion record: what intake encodes, attribution decodes, field for field."""

from __future__ import annotations

from decimal import Decimal

import orjson

from app.postbacks.records import ConversionRecord, decode
from tests.helpers import new_click_uuid


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
