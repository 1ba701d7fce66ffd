"""The portal's pages and its assets (every file from this package, none from a CDN)."""

from __future__ import annotations

from fastapi import APIRouter

from app import assets
from app.portal import auth, manage, partner, web

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(manage.router)
router.include_router(partner.router)

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
