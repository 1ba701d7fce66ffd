"""What the web app's lifespan opens, in one typed object that `app.deps` hands to routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from starlette.applications import Starlette

from app.db import Pool
from app.settings import Settings

if TYPE_CHECKING:
    from app.partners.payment import PaymentCipher
    from app.postbacks.service import Intake
    from app.redirect.handler import Redirector
    from app.sealing import Sealer


@dataclass(frozen=True, slots=True)
class AppState:
    """Built complete once the pool and Redis are open; lives as long as the lifespan."""

    settings: Settings
    pool: Pool
    redis: Redis
    redirector: Redirector
    intake: Intake
    # None in production without DATA_KEY (nothing sealed stored yet): app/sealing.py.
    sealer: Sealer | None = None

    @property
    def payment_cipher(self) -> PaymentCipher | None:
        from app.partners.payment import cipher_of

        return cipher_of(self.sealer)

    def attach(self, app: Starlette) -> None:
        app.state.resources = self

    @staticmethod
    def of(app: Starlette) -> AppState:
        """The resources of a running app."""
        resources = getattr(app.state, "resources", None)
        if not isinstance(resources, AppState):
            raise RuntimeError("the app's lifespan has not started: no pool or Redis yet")
        return resources
