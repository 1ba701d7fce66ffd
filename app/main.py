"""The web application: create_app(settings), whose lifespan owns the pool and Redis."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from app import __doc__ as description
from app import db
from app.catalog import routes as catalog_routes
from app.errors import install_handlers
from app.keys import routes as keys_routes
from app.ops import routes as ops_routes
from app.redirect import service as redirect_service
from app.redirect.handler import RedirectMiddleware, Redirector, TrustedProxies
from app.redis import create_redis
from app.settings import Settings

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database_url, redis_url = settings.require_urls()
        pool = await db.create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = create_redis(redis_url)
        try:
            if settings.migrate_on_start:
                async with pool.acquire() as conn:
                    await db.migrate(conn)
            app.state.pool = pool
            app.state.redis = redis
            await redirect_service.start(redirector, settings=settings, pool=pool, redis=redis)
            yield
        finally:
            await redirect_service.stop(redirector)
            await redis.aclose()
            await pool.close()

    app = FastAPI(
        title="Tracker",
        version="0.1.0",
        description=description or "",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    redirector = Redirector(
        cookie_name=settings.click_cookie, trusted_proxies=TrustedProxies(settings.trusted_proxies)
    )
    app.state.redirector = redirector
    install_handlers(app)
    app.add_middleware(RedirectMiddleware, redirector=redirector)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(catalog_routes.router)
    api.include_router(keys_routes.router)
    api.include_router(ops_routes.router, include_in_schema=False)
    app.include_router(api)
    app.include_router(ops_routes.router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (and `tracker serve --workers N`)."""
    return create_app(Settings())
