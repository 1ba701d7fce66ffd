"""Typed FastAPI dependencies for what the lifespan owns (`app.state.AppState`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from app.accounts import sessions as account_sessions
from app.db import Pool
from app.keys import service as keys_service
from app.sealing import Sealer
from app.settings import Settings
from app.state import AppState


def get_app_state(request: Request) -> AppState:
    return AppState.of(request.app)


AppStateDep = Annotated[AppState, Depends(get_app_state)]


def get_pool(resources: AppStateDep) -> Pool:
    return resources.pool


def get_redis(resources: AppStateDep) -> Redis:
    return resources.redis


def get_settings(resources: AppStateDep) -> Settings:
    return resources.settings


def get_sealer(resources: AppStateDep) -> Sealer | None:
    return resources.sealer


PoolDep = Annotated[Pool, Depends(get_pool)]
# The sealer of secrets at rest (app/sealing.py); None in production without DATA_KEY.
SealerDep = Annotated[Sealer | None, Depends(get_sealer)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer <key>`")


async def current_principal(
    request: Request,
    pool: PoolDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> keys_service.Principal:
    if credentials is None and (token := request.cookies.get(account_sessions.SESSION_COOKIE)):
        # The portal's own calls: a signed-in user's session, scoped as the equivalent key.
        return await account_sessions.api_principal(
            pool,
            token=token,
            method=request.method,
            csrf_header=request.headers.get("x-csrf-token"),
        )
    admin_key = settings.admin_api_key.get_secret_value() if settings.admin_api_key else None
    header = f"{credentials.scheme} {credentials.credentials}" if credentials else None
    return await keys_service.authenticate(pool, authorization=header, admin_key=admin_key)


async def admin_principal(
    principal: Annotated[keys_service.Principal, Depends(current_principal)],
) -> keys_service.Principal:
    principal.require_admin()
    return principal


# The caller: an admin, or one affiliate (a Principal, whichever key or setting it came from).
CurrentKey = Annotated[keys_service.Principal, Depends(current_principal)]
AdminKey = Annotated[keys_service.Principal, Depends(admin_principal)]
