"""Schemathesis hooks for tests/openapi/test_schemathesis.py (SCHEMATHESIS_HOOKS)."""

from __future__ import annotations

import json

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

OFFER_WRITES = frozenset({"POST /api/v1/offers", "PATCH /api/v1/offers/{offer_id}"})
# Rules across list items (one goal per name, none named as the main goal, one override per
# affiliate, one cap per metric, period and affiliate) that no JSON Schema can state:
# uniqueItems covers exact repeats only.
ACROSS_ITEMS = (
    "goal names must be unique",
    "is the main goal; set its rules on the offer",
    "one payout override per affiliate",
    "one cap per metric, period and affiliate",
)


# Partner rules beyond a JSON Schema: an IBAN's checksum and a BIC's country
# (app.partners.fields), a Wise recipient's "email, or holder and account", a promotion's
# currency given exactly for money metrics, one group rule per offer.
PARTNER_WRITES = frozenset(
    {
        "PUT /api/v1/affiliates/{affiliate_id}/payment",
        "POST /api/v1/groups",
        "PATCH /api/v1/groups/{group_id}",
    }
)
PARTNER_RULES = (
    "not a valid IBAN",
    "not a valid BIC",
    "wise needs email, or account_holder",
    "promotion needs a currency",
    "promotion has no currency",
    "one rule per offer",
)
# A bonus or adjustment in whole minor units of its currency (two decimals for USD, none
# for JPY): a rule across the amount and the currency fields.
ACROSS_FIELDS = {"POST /api/v1/ledger": ("decimals",)} | dict.fromkeys(
    PARTNER_WRITES, PARTNER_RULES
)


def _message(response) -> str:  # type: ignore[no-untyped-def]
    try:
        return str(json.loads(response.content)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return ""


@schemathesis.check
def data_acceptance(ctx, response, case):  # type: ignore[no-untyped-def]
    """positive_data_acceptance (which the run excludes) on every operation, but for offer
    writes refused by a rule across list items and the rules across fields above."""
    label = case.operation.label
    if response.status_code == 400:
        rules = ACROSS_ITEMS if label in OFFER_WRITES else ACROSS_FIELDS.get(label, ())
        if any(rule in _message(response) for rule in rules):
            return None
    return positive_data_acceptance(ctx, response, case)
