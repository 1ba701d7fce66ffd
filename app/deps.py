"""Typed FastAPI dependencies for what the lifespan owns (`app.state.AppState`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from app.accounts import sessions as account_sessions
from app.db import Pool
from app.errors import Forbidden
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


def get_public_url(settings: SettingsDep) -> str:
    return settings.public_url


# PUBLIC_URL: the base of the tracking, postback and inbound URLs that responses show.
PublicUrl = Annotated[str, Depends(get_public_url)]


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


async def unmanaged_principal(
    principal: Annotated[keys_service.Principal, Depends(current_principal)],
) -> keys_service.Principal:
    if principal.is_manager:
        principal.require_admin()  # a manager: 403 owner_only
    return principal


async def admin_principal(
    principal: Annotated[keys_service.Principal, Depends(current_principal)],
) -> keys_service.Principal:
    principal.require_admin()
    return principal


async def staff_principal(
    principal: Annotated[keys_service.Principal, Depends(current_principal)],
) -> keys_service.Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin key")
    return principal


# The caller: an admin, or one affiliate (a Principal, whichever key or setting it came
# from). A manager's session is refused (403 owner_only) by every route that does not say
# how it scopes one: those take ScopedKey (any caller) or StaffKey (an admin or a manager),
# and limit a manager to their affiliates by the Principal's own rule (`allows`, `scope`,
# `among`, `require_affiliate_access`).
CurrentKey = Annotated[keys_service.Principal, Depends(unmanaged_principal)]
ScopedKey = Annotated[keys_service.Principal, Depends(current_principal)]
AdminKey = Annotated[keys_service.Principal, Depends(admin_principal)]
StaffKey = Annotated[keys_service.Principal, Depends(staff_principal)]


def admin_actor(principal: AdminKey) -> str:
    return principal.admin_actor


# Who an admin's change is recorded as (`changed_by`, `created_by`): the route's admin check.
AdminActor = Annotated[str, Depends(admin_actor)]
