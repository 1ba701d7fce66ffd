"""Partner management routes: POST /apply (public), the lifecycle actions, history,
payment details and notes of an affiliate, and /api/v1/groups.

Admin keys do everything; an affiliate key reads its own history and replaces its own
payment details, and nothing else here.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.api_params import IdPath
from app.catalog import affiliates as affiliate_service
from app.catalog import service as catalog_service
from app.catalog.fields import Input
from app.catalog.schemas import AffiliateOut
from app.deps import (
    AdminKey,
    AppStateDep,
    CurrentKey,
    PoolDep,
    RedisDep,
    ScopedKey,
    SettingsDep,
    StaffKey,
)
from app.pagination import (
    Page,
    PageQuery,
)
from app.partners import apply as apply_service
from app.partners import evaluation, groups, lifecycle, notes, profile
from app.partners.fields import MaskedPayment, Payment
from app.partners.history import HistoryOut, actor_of, list_history
from app.proxies import TrustedProxies
from app.sender import trial

router = APIRouter(tags=["partners"])
public = APIRouter(tags=["partners"])


class ReasonIn(Input):
    reason: str | None = Field(default=None, max_length=2000)


_APPLY_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": apply_service.ApplyIn.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": apply_service.form_schema()},
        },
    }
}


@public.post(
    "/apply",
    status_code=202,
    openapi_extra=_APPLY_BODY,
    responses={
        400: {"description": "bad input"},
        413: {"description": "body too large"},
        415: {"description": "not JSON nor a form"},
        429: {"description": "too many applications from this address; see Retry-After"},
        503: {"description": "the rate limiter (Redis) is down"},
    },
)
async def apply(
    request: Request, pool: PoolDep, redis: RedisDep, settings: SettingsDep
) -> JSONResponse:
    """Apply to the program (no key): JSON or form-encoded `name`, `email`, `website`,
    `traffic_sources`, `message`, `terms_version`. The same 202 whether or not the
    e-mail is registered already."""
    peer = request.client.host if request.client else ""
    ip = TrustedProxies(settings.trusted_proxies).client_ip(
        peer, request.headers.get("x-forwarded-for")
    )
    await apply_service.check_rate(redis, ip=ip, per_hour=settings.apply_rate_per_hour)
    raw = await apply_service.read_body(request)
    body = apply_service.parse(request.headers.get("content-type", ""), raw)
    await apply_service.submit(pool, body=body)
    return JSONResponse(apply_service.ACCEPTED, status_code=202)


def _action(action: lifecycle.Action, summary: str) -> None:
    async def act(
        affiliate_id: IdPath,
        pool: PoolDep,
        redis: RedisDep,
        caller: StaffKey,
        body: ReasonIn | None = None,
    ) -> AffiliateOut:
        caller.require_affiliate_access(affiliate_id)  # a manager: their affiliates only
        async with pool.acquire() as conn:
            await lifecycle.apply_action(
                conn,
                affiliate_id=affiliate_id,
                action=action,
                actor=actor_of(caller),
                reason=body.reason if body else None,
            )
        # The links of the affiliate divert (or stop diverting) in every process.
        await catalog_service.notify_changed(redis)
        return await affiliate_service.get_affiliate(pool, affiliate_id=affiliate_id)

    act.__doc__ = summary
    router.post(
        f"/affiliates/{{affiliate_id}}/{action}",
        name=f"{action}_affiliate",
        response_model=AffiliateOut,
        responses={409: {"description": "invalid_transition: not from this status"}},
    )(act)


_action("approve", "applied or rejected -> active")
_action("reject", "applied -> rejected")
_action("suspend", "active -> suspended: links go to the fallback, keys are refused")
_action("reactivate", "suspended or archived -> active")


@router.get("/affiliates/{affiliate_id}/history", response_model=Page[HistoryOut])
async def affiliate_history(
    affiliate_id: IdPath,
    pool: PoolDep,
    caller: ScopedKey,
    page: PageQuery,
) -> Page[HistoryOut]:
    """Status changes and group moves, oldest first (an affiliate key: its own)."""
    caller.require_affiliate_access(affiliate_id)
    return await list_history(pool, affiliate_id=affiliate_id, page=page)


@router.put("/affiliates/{affiliate_id}/payment", response_model=MaskedPayment)
async def put_payment(
    affiliate_id: IdPath, body: Payment, pool: PoolDep, resources: AppStateDep, caller: CurrentKey
) -> MaskedPayment:
    """Replace the payment details (encrypted at rest); the answer shows them masked."""
    caller.require_affiliate_access(affiliate_id)
    return await profile.set_payment(
        pool, affiliate_id=affiliate_id, body=body, cipher=resources.payment_cipher
    )


class PostbackTestOut(BaseModel):
    url: str = Field(description="the URL sent, its macros filled with the sample's values")
    method: str
    ok: bool = Field(description="the receiver answered 2xx")
    status_code: int | None
    error: str | None
    latency_ms: int
    response_snippet: str | None = Field(description="the first 1 KiB of the answer")


@router.post(
    "/affiliates/{affiliate_id}/postback/test",
    response_model=PostbackTestOut,
    responses={
        409: {"description": "no_postback_url: the affiliate has none"},
        429: {"description": "rate_limited: more than 10 tests a minute (Retry-After)"},
    },
)
async def test_postback(
    affiliate_id: IdPath,
    pool: PoolDep,
    redis: RedisDep,
    settings: SettingsDep,
    caller: ScopedKey,
) -> PostbackTestOut:
    """Send a test postback to the affiliate's postback URL now, as a real try (SSRF
    guard, method, signature): `click_id`, `sub1`, `event` are `test`, `payout` 0.00,
    `txid` `test-<random>`. Nothing is stored. An admin, or the affiliate's own key."""
    caller.require_affiliate_access(affiliate_id)
    affiliate = await affiliate_service.get_affiliate(pool, affiliate_id=affiliate_id)
    url, method, tried = await trial.try_postback(settings, redis, affiliate.model_dump())
    return PostbackTestOut(
        url=url,
        method=method,
        ok=tried.ok,
        status_code=tried.status_code,
        error=tried.error,
        latency_ms=tried.latency_ms,
        response_snippet=tried.snippet,
    )


@router.post("/affiliates/{affiliate_id}/notes", status_code=201, response_model=notes.NoteOut)
async def add_note(
    affiliate_id: IdPath, body: notes.NoteIn, pool: PoolDep, caller: StaffKey
) -> notes.NoteOut:
    caller.require_affiliate_access(affiliate_id)
    return await notes.add_note(
        pool, affiliate_id=affiliate_id, author_key_id=caller.key_id, body=body
    )


@router.get("/affiliates/{affiliate_id}/notes", response_model=Page[notes.NoteOut])
async def list_notes(
    affiliate_id: IdPath,
    pool: PoolDep,
    caller: StaffKey,
    page: PageQuery,
) -> Page[notes.NoteOut]:
    """Admin-only notes (a manager's affiliates' too), oldest first."""
    caller.require_affiliate_access(affiliate_id)
    return await notes.list_notes(pool, affiliate_id=affiliate_id, page=page)


# --- commission groups ---------------------------------------------------------------

groups_router = APIRouter(prefix="/groups", tags=["groups"])


@groups_router.post("", status_code=201, response_model=groups.GroupOut)
async def create_group(body: groups.GroupIn, pool: PoolDep, _: AdminKey) -> groups.GroupOut:
    async with pool.acquire() as conn:
        return await groups.create_group(conn, body=body)


@groups_router.get("", response_model=Page[groups.GroupOut])
async def list_groups(pool: PoolDep, _: StaffKey, page: PageQuery) -> Page[groups.GroupOut]:
    """Every group (a manager reads them too: they move their affiliates between them)."""
    return await groups.list_groups(pool, page=page)


@groups_router.post("/evaluate", response_model=evaluation.EvaluationOut)
async def evaluate_groups(pool: PoolDep, caller: AdminKey) -> evaluation.EvaluationOut:
    """Move each active affiliate to the highest-ranked group whose promotion rule it
    meets (down too, where its group says `demote`); the moves, each in its history."""
    return await evaluation.evaluate(pool, actor=actor_of(caller))


@groups_router.get("/{group_id:int}", response_model=groups.GroupOut)
async def get_group(group_id: IdPath, pool: PoolDep, _: StaffKey) -> groups.GroupOut:
    return await groups.get_group(pool, group_id=group_id)


@groups_router.patch("/{group_id:int}", response_model=groups.GroupOut)
async def update_group(
    group_id: IdPath, body: groups.GroupPatch, pool: PoolDep, _: AdminKey
) -> groups.GroupOut:
    """Change the fields given; `rules`, when given, replaces the old list."""
    async with pool.acquire() as conn:
        return await groups.update_group(conn, group_id=group_id, body=body)


@groups_router.delete("/{group_id:int}", status_code=204)
async def delete_group(group_id: IdPath, pool: PoolDep, _: AdminKey) -> Response:
    """Refused with 409 group_in_use while affiliates are in it."""
    async with pool.acquire() as conn:
        await groups.delete_group(conn, group_id=group_id)
    return Response(status_code=204)


router.include_router(groups_router)
