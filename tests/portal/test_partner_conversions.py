"""The affiliate's conversions page: its own, with its payout, never revenue or another's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from fastapi import FastAPI

from app.db import Pool
from tests.support.portal import browser, clicked_conversion, make_user, sign_in


async def _conversion(pool: Pool, catalog: dict[str, Any], link: str, status: str) -> int:
    return await clicked_conversion(
        pool,
        catalog,
        link,
        status=status,
        sub1=f"{link}-kw",
        revenue=Decimal("987.65"),
        payout=Decimal("12.34"),
    )


async def test_an_affiliate_sees_its_own_conversions_without_revenue(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    pool: Pool,
    catalog: dict[str, Any],
) -> None:
    approved = await _conversion(pool, catalog, "alice_link", "approved")
    pending = await _conversion(pool, catalog, "alice_link", "pending")
    bobs = await _conversion(pool, catalog, "bob_link", "approved")
    alice = catalog["alice"]["id"]
    await make_user(
        app, client, admin, pool, email="alice@example.com", role="affiliate", affiliate_id=alice
    )
    await make_user(app, client, admin, pool, email="owner@example.com", role="owner")
    async with browser(app) as person:
        assert (await sign_in(person, "alice@example.com")).status_code == 303
        page = await person.get("/partner/conversions")
        assert page.status_code == 200
        assert f'data-id="{approved}"' in page.text
        assert f'data-id="{pending}"' in page.text
        assert f'data-id="{bobs}"' not in page.text
        assert "bob_link-kw" not in page.text
        assert "12.34 USD" in page.text
        assert "987.65" not in page.text
        assert "Revenue" not in page.text
        only = await person.get("/partner/conversions", params={"status": "pending"})
        assert f'data-id="{pending}"' in only.text
        assert f'data-id="{approved}"' not in only.text
    async with browser(app) as owner:
        assert (await sign_in(owner, "owner@example.com")).status_code == 303
        assert (await owner.get("/partner/conversions")).status_code == 404
    assert (await client.get("/partner/conversions")).headers["location"] == "/"
