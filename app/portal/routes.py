"""The portal's pages and its assets (every file from this package, none from a CDN)."""

from __future__ import annotations

from fastapi import APIRouter

from app import assets
from app.portal import (
    account,
    affiliates,
    auth,
    conversions,
    customers,
    join,
    links,
    manage,
    offers,
    partner,
    partner_conversions,
    partner_links,
    partner_money,
    partner_news,
    partner_settings,
    partner_stats,
    partner_webhooks,
    payouts,
    users,
    web,
)
from app.portal import deliveries as console_deliveries
from app.portal import integrations as console_integrations
from app.portal import keys as console_keys
from app.portal import stats as console_stats
from app.portal import webhooks as console_webhooks

router = APIRouter(include_in_schema=False)
# Each page module owns its routes.
for _pages in (
    auth,
    join,
    account,
    manage,
    conversions,
    affiliates,
    users,
    payouts,
    customers,
    partner,
    partner_links,
    partner_conversions,
    partner_settings,
    partner_webhooks,
    offers,
    links,
    partner_stats,
    partner_money,
    partner_news,
    console_stats,
    console_keys,
    console_webhooks,
    console_deliveries,
    console_integrations,
):
    router.include_router(_pages.router)

# Named by content (web.ASSET_PATHS): a year in caches, a new name when it changes.
_ASSET_HEADERS = assets.headers(web.POLICY, cache_control="public, max-age=31536000, immutable")
for _name, _path in web.ASSET_PATHS.items():
    assets.serve(
        router,
        _path,
        web.ASSET_CONTENT[_name],
        media_type=web.ASSET_TYPES[_name],
        headers=_ASSET_HEADERS,
    )
