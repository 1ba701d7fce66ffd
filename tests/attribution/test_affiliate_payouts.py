"""What an affiliate earns on each offer's main goal, as the portal shows it: the one
precedence rule (override, group rule for the offer, group default, the offer's)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from app.attribution import service
from app.db import Pool
from tests.helpers import create


async def test_each_offer_pays_by_the_precedence_of_attribution(
    client: httpx.AsyncClient, admin: dict[str, str], pool: Pool, catalog: dict[str, Any]
) -> None:
    alice, bob = catalog["alice"]["id"], catalog["bob"]["id"]
    base = {
        "advertiser_id": catalog["advertiser"]["id"],
        "url": "https://shop.example/landing?cid={click_id}",
        "fallback_url": "https://shop.example/",
        "revenue": {"type": "fixed", "value": "9.00"},
        "payout": {"type": "fixed", "value": "4.00"},
    }
    overridden = await create(
        client,
        "offers",
        {
            **base,
            "name": "Overridden",
            "payout_overrides": [{"affiliate_id": alice, "type": "fixed", "value": "3.75"}],
        },
        admin,
    )
    plain = await create(client, "offers", {**base, "name": "Plain"}, admin)
    shoes = catalog["offer"]["id"]
    group = await create(
        client,
        "groups",
        {
            "name": "Gold",
            "rank": 1,
            "rules": [{"offer_id": shoes, "type": "percent", "value": "30"}],
            "default": {"type": "fixed", "value": "1.00"},
        },
        admin,
    )
    joined = await client.patch(
        f"/api/v1/affiliates/{alice}", json={"group_id": group["id"]}, headers=admin
    )
    assert joined.status_code == 200, joined.text
    offers = [shoes, overridden["id"], plain["id"]]

    mine = await service.affiliate_payouts(pool, affiliate_id=alice, offer_ids=offers)
    theirs = await service.affiliate_payouts(pool, affiliate_id=bob, offer_ids=offers)

    assert mine == {
        shoes: ("percent", Decimal("30")),  # the group's rule for the offer
        overridden["id"]: ("fixed", Decimal("3.75")),  # her own override first
        plain["id"]: ("fixed", Decimal("1.00")),  # the group's default
    }
    assert theirs == {  # no group, no override: each offer's own rule
        shoes: ("fixed", Decimal("2.50")),
        overridden["id"]: ("fixed", Decimal("4.00")),
        plain["id"]: ("fixed", Decimal("4.00")),
    }
    assert await service.affiliate_payouts(pool, affiliate_id=alice, offer_ids=[]) == {}
