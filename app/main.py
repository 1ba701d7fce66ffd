"""The web application: create_app(settings), whose lifespan owns the pool and Redis."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI
from starlette.types import Receive, Scope, Send

from app import __doc__ as description
from app import db, seal_secrets, sealing
from app.accounts import routes as account_routes
from app.attribution import routes as conversion_routes
from app.catalog import routes as catalog_routes
from app.coupons import routes as coupon_routes
from app.customers import routes as customer_routes
from app.dashboard import routes as dashboard_routes
from app.docs import routes as docs_routes
from app.edge import collector
from app.errors import install_handlers
from app.integrations import routes as integration_routes
from app.keys import routes as keys_routes
from app.ledger import routes as ledger_routes
from app.mail import routes as mail_routes
from app.methods import install as install_methods
from app.openapi import install as install_openapi
from app.ops import routes as ops_routes
from app.outage import install_handlers as install_outage_handlers
from app.partners import routes as partner_routes
from app.payouts import routes as payout_routes
from app.portal import routes as portal_routes
from app.portal import web as portal_web
from app.postbacks import asgi as intake_asgi
from app.postbacks import routes as postback_routes
from app.postbacks import service as intake_service
from app.privacy import routes as privacy_routes
from app.redirect import service as redirect_service
from app.redirect.handler import Redirector, is_redirect
from app.redis import create_redis
from app.reports import routes as report_routes
from app.sender import routes as sender_routes
from app.settings import Settings
from app.state import AppState
from app.stats import routes as stats_routes
from app.stats import service as stats_service
from app.webhooks import routes as webhook_routes

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


class TrackerApp(FastAPI):
    """FastAPI, except that tracking links, postbacks and pixels are answered before any
    middleware or routing.

    A redirect is so small that Starlette's middleware stack alone costs a measurable
    share of it; the management API keeps everything FastAPI gives.
    """

    redirector: Redirector
    intake: intake_service.Intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if is_redirect(scope["method"], scope["path"]):
                await self.redirector.handle(scope, send)
                return
            # Postbacks and pixels too: their intake target needs the same short path.
            if intake_asgi.is_intake(scope["method"], scope["path"]):
                await intake_asgi.handle(self.intake, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    async def reload_links(self) -> None:
        """Load the link cache now rather than at its next poll, so that a link made a
        moment ago redirects at once (tests; a warm-up)."""
        await self.redirector.cache.load()


_ZONES_CHECKED: set[str] = set()


async def _check_time_zones(pool: db.Pool, database_url: str) -> None:
    if database_url in _ZONES_CHECKED:
        return
    _ZONES_CHECKED.add(database_url)
    if differing := await stats_service.zones_out_of_step(pool):
        logger.warning(
            "PostgreSQL and Python disagree on the rules of %d time zones (%s): stats "
            "reports in them may cut days at the wrong hour. Give both the same tz "
            "database (PYTHONTZPATH can point Python at PostgreSQL's share/timezone).",
            len(differing),
            ", ".join(differing[:5]) + (", ..." if len(differing) > 5 else ""),
        )


def create_app(settings: Settings, *, settle: bool = False) -> TrackerApp:
    """The app; `settle`: the collector's passes leave out what start-up made
    (app.edge.collector: `tracker serve`'s processes, not tests)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:  # `app`, below: a TrackerApp
        database_url, redis_url = settings.require_urls()
        pool = await db.create_pool(
            database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        redis = create_redis(redis_url)
        try:
            async with pool.acquire() as conn:
                if settings.migrates_on_start:
                    await db.migrate(conn)
                elif pending := await db.pending_migrations(conn):
                    raise RuntimeError(
                        f"{len(pending)} migration(s) not applied ({pending[0]} first): "
                        "run `tracker migrate` before starting this version"
                    )
                sealer = await sealing.open_sealer(
                    settings=settings, conn=conn, kinds=seal_secrets.KINDS
                )
            await _check_time_zones(pool, database_url)
            async with contextlib.AsyncExitStack() as resources:
                redirector = await redirect_service.open_redirector(
                    settings=settings, pool=pool, redis=redis
                )
                resources.push_async_callback(redirect_service.stop, redirector)
                intake = await intake_service.open_intake(settings=settings, pool=pool, redis=redis)
                resources.push_async_callback(intake_service.stop, intake)
                app.redirector, app.intake = redirector, intake
                # Read by app.postbacks.routes and tests; routes take the typed AppState.
                app.state.redirector, app.state.intake = redirector, intake
                AppState(
                    settings=settings,
                    pool=pool,
                    redis=redis,
                    redirector=redirector,
                    intake=intake,
                    sealer=sealer,
                ).attach(app)
                if settle:
                    collector.settle()
                yield
        finally:
            await redis.aclose()
            await pool.close()

    app = TrackerApp(
        title="Tracker",
        version="0.1.0",
        description=description or "",
        lifespan=lifespan,
        # /docs is app.docs' own page (no CDN); no /redoc, which would load from one.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    install_handlers(app)
    install_outage_handlers(app)
    portal_web.install_handlers(app)
    install_methods(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(catalog_routes.router)
    api.include_router(keys_routes.router)
    api.include_router(account_routes.router)
    api.include_router(sender_routes.router)
    api.include_router(webhook_routes.router)
    api.include_router(conversion_routes.router)
    api.include_router(coupon_routes.router)
    api.include_router(customer_routes.router)
    api.include_router(stats_routes.router)
    api.include_router(report_routes.router)
    api.include_router(privacy_routes.router)
    api.include_router(partner_routes.router)
    api.include_router(ledger_routes.router)
    api.include_router(payout_routes.router)
    api.include_router(integration_routes.router)
    api.include_router(mail_routes.router)
    api.include_router(ops_routes.router, include_in_schema=False)
    app.include_router(api)
    app.include_router(ops_routes.router)
    app.include_router(postback_routes.router)
    app.include_router(partner_routes.public)
    app.include_router(integration_routes.inbound_router)
    app.include_router(mail_routes.public)
    app.include_router(portal_routes.router)
    app.include_router(dashboard_routes.router)
    app.include_router(docs_routes.router)
    install_openapi(app)
    return app


def create_app_from_env() -> TrackerApp:
    """Factory for `uvicorn --factory` (and `tracker serve --workers N`)."""
    return create_app(Settings(), settle=True)
