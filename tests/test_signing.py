"""One signature scheme both ways: what the sender signs, the postback check accepts."""

from __future__ import annotations

import time

import pytest

from app import signing
from app.postbacks import service as intake_service


def test_a_signature_verifies_only_with_its_secret_time_and_payload() -> None:
    header = signing.sign("s3cret", 1_700_000_000, b"payload")
    stamp, digest = (part.split("=", 1)[1] for part in header.split(","))
    assert stamp == "1700000000"
    assert signing.verify(b"s3cret", 1_700_000_000, b"payload", digest)
    assert not signing.verify("other", 1_700_000_000, b"payload", digest)
    assert not signing.verify("s3cret", 1_700_000_001, b"payload", digest)
    assert not signing.verify("s3cret", 1_700_000_000, b"payload ", digest)
    assert not signing.verify("s3cret", 1_700_000_000, b"payload", "zz\u00e9")


def test_the_postback_check_takes_what_signing_makes() -> None:
    now = int(time.time())
    header = signing.sign("s3cret", now, b"body")
    intake_service.check_signature(b"s3cret", header, b"body", now=now, max_age_s=300)
    with pytest.raises(intake_service.InvalidSignature):
        intake_service.check_signature(b"other", header, b"body", now=now, max_age_s=300)
