"""/api/v1/users: the people who sign in to the portal (admin keys and owners)."""

from __future__ import annotations

from fastapi import APIRouter

from app.accounts import sessions, users
from app.accounts.schemas import InviteOut, SignedOut, UserIn, UserOut, UserPatch
from app.api_params import IdPath
from app.deps import AdminActor, AdminKey, PoolDep
from app.pagination import DEFAULT_LIMIT, CursorQuery, LimitQuery, Page

router = APIRouter(prefix="/users", tags=["users"])


@router.post("", status_code=201, response_model=UserOut)
async def create_user(body: UserIn, pool: PoolDep, actor: AdminActor) -> UserOut:
    """A user, mailed an invite link that sets their password (valid 7 days, once)."""
    async with pool.acquire() as conn:
        return await users.create_and_invite(conn, body=body, actor=actor)


@router.get("", response_model=Page[UserOut])
async def list_users(
    pool: PoolDep, _: AdminKey, limit: LimitQuery = DEFAULT_LIMIT, cursor: CursorQuery = None
) -> Page[UserOut]:
    return await users.list_users(pool, cursor=cursor, limit=limit)


@router.get("/{user_id}", response_model=UserOut)
async def get_user(user_id: IdPath, pool: PoolDep, _: AdminKey) -> UserOut:
    return await users.get_user(pool, user_id=user_id)


@router.patch("/{user_id}", response_model=UserOut)
async def update_user(
    user_id: IdPath, body: UserPatch, pool: PoolDep, actor: AdminActor
) -> UserOut:
    async with pool.acquire() as conn:
        return await users.update_user(conn, user_id=user_id, body=body, actor=actor)


@router.post("/{user_id}/invite", status_code=201, response_model=InviteOut)
async def invite_user(user_id: IdPath, pool: PoolDep, _: AdminKey) -> InviteOut:
    """Mail a new invite link (the user's earlier unused one stops working)."""
    async with pool.acquire() as conn:
        return await users.invite(conn, user_id=user_id)


@router.post("/{user_id}/sign-out", response_model=SignedOut)
async def sign_out_user(user_id: IdPath, pool: PoolDep, _: AdminKey) -> SignedOut:
    """End every session of the user (sign them out everywhere)."""
    await users.get_user(pool, user_id=user_id)
    ended = await sessions.end_all(pool, user_id=user_id)
    return SignedOut(user_id=user_id, sessions_ended=ended)
