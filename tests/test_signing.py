"""One signature scheme both ways: what the sender signs, the postback check accepts; and
webhooks signed as Standard Webhooks libraries verify them."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

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


def test_webhook_signatures_are_standard_webhooks() -> None:
    """What the sender puts in `webhook-signature` is what the reference library makes and
    accepts, for the secret's decoded bytes."""
    secret = signing.new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == signing.WEBHOOK_SECRET_BYTES
    body = b'{"id":"msg_1","type":"webhook.test","created_at":"2026-12-01T00:00:00Z","data":{}}'
    now = int(time.time())
    signature = signing.webhook_signature(secret, "msg_1", now, body)
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode())
    assert signature == reference
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now), "webhook-signature": signature}
    assert Webhook(secret).verify(body, headers)["type"] == "webhook.test"
    assert signing.new_webhook_secret() != secret
