from __future__ import annotations

import re

import httpx


async def test_openapi_describes_the_catalog_and_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    schemas = spec["components"]["schemas"]
    for name in (
        "AdvertiserIn",
        "AdvertiserOut",
        "OfferIn",
        "OfferOut",
        "OfferPatch",
        "AffiliateIn",
        "AffiliateOut",
        "LinkIn",
        "LinkOut",
        "KeyIn",
        "CreatedKey",
        "Cap",
    ):
        assert name in schemas, name
    # Money goes out as a decimal string, never a JSON number.
    # A rule is two shapes told apart by `type`: a fixed amount, a percent from 0 to 100.
    shapes = {
        shape["properties"]["type"]["const"]: shape["properties"]["value"]
        for shape in schemas["Rule"]["anyOf"]
    }
    assert set(shapes) == {"fixed", "percent"}
    assert all(value["type"] == "string" for value in shapes.values())
    assert re.fullmatch(shapes["percent"]["pattern"], "100.0000")
    assert not re.fullmatch(shapes["percent"]["pattern"], "100.0001")
    assert set(schemas["OfferOut"]["properties"]) >= {
        "advertiser_id",
        "url",
        "fallback_url",
        "status",
        "currency",
        "attribution_window_hours",
        "revenue",
        "payout",
        "goals",
        "payout_overrides",
        "caps",
    }
    assert "key" in schemas["CreatedKey"]["properties"]
    assert "key" not in schemas["KeyOut"]["properties"]
    paths = spec["paths"]
    for path in (
        "/api/v1/advertisers",
        "/api/v1/advertisers/{advertiser_id}",
        "/api/v1/advertisers/{advertiser_id}/rotate-token",
        "/api/v1/offers",
        "/api/v1/offers/{offer_id}",
        "/api/v1/affiliates",
        "/api/v1/affiliates/{affiliate_id}",
        "/api/v1/links",
        "/api/v1/links/{link_id}",
        "/api/v1/keys",
        "/api/v1/keys/{key_id}",
    ):
        assert path in paths, path
    assert set(paths["/api/v1/offers/{offer_id}"]) >= {"get", "patch", "delete"}
