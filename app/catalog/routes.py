"""/api/v1 advertisers, offers, affiliates and links.

Admin keys manage everything; an affiliate key reads its own affiliate and links only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Query, Response
from redis.asyncio import Redis

from app.api_params import IdPath, IdQuery
from app.catalog import advertisers as advertiser_service
from app.catalog import affiliates as affiliate_service
from app.catalog import links as link_service
from app.catalog import offers as offer_service
from app.catalog import service as catalog_service
from app.catalog.schemas import (
    AdvertiserIn,
    AdvertiserOut,
    AdvertiserPatch,
    AffiliateIn,
    AffiliateOut,
    AffiliatePatch,
    LinkIn,
    LinkOut,
    LinkPatch,
    OfferIn,
    OfferOut,
    OfferPatch,
)
from app.db import Connection, Pool
from app.deps import AdminKey, CurrentKey, PoolDep, RedisDep, SettingsDep
from app.pagination import (
    Filters,
    Page,
    PageQuery,
)
from app.partners.history import actor_of

router = APIRouter()

NO_CONTENT = Response(status_code=204)
T = TypeVar("T")


async def _announce(redis: Redis, change: Awaitable[T]) -> T:
    # Every catalog write ends here: the redirect and postback caches must hear of it.
    result = await change
    await catalog_service.notify_changed(redis)
    return result


async def _on_connection(pool: Pool, change: Callable[[Connection], Awaitable[T]]) -> T:
    # The services that write several tables in one transaction take a connection.
    async with pool.acquire() as conn:
        return await change(conn)


# --- advertisers -------------------------------------------------------------------

advertisers = APIRouter(prefix="/advertisers", tags=["advertisers"])


@advertisers.post("", status_code=201, response_model=AdvertiserOut)
async def create_advertiser(
    body: AdvertiserIn, pool: PoolDep, redis: RedisDep, settings: SettingsDep, _: AdminKey
) -> AdvertiserOut:
    return await _announce(
        redis,
        advertiser_service.create_advertiser(pool, body=body, public_url=settings.public_url),
    )


@advertisers.get("", response_model=Page[AdvertiserOut])
async def list_advertisers(
    pool: PoolDep,
    settings: SettingsDep,
    _: AdminKey,
    page: PageQuery,
    status: Literal["active", "archived"] | None = None,
) -> Page[AdvertiserOut]:
    return await advertiser_service.list_advertisers(
        pool, page=page, status=status, public_url=settings.public_url
    )


@advertisers.get("/{advertiser_id}", response_model=AdvertiserOut)
async def get_advertiser(
    advertiser_id: IdPath, pool: PoolDep, settings: SettingsDep, _: AdminKey
) -> AdvertiserOut:
    return await advertiser_service.get_advertiser(
        pool, advertiser_id=advertiser_id, public_url=settings.public_url
    )


@advertisers.patch("/{advertiser_id}", response_model=AdvertiserOut)
async def update_advertiser(
    advertiser_id: IdPath,
    body: AdvertiserPatch,
    pool: PoolDep,
    redis: RedisDep,
    settings: SettingsDep,
    _: AdminKey,
) -> AdvertiserOut:
    return await _announce(
        redis,
        advertiser_service.update_advertiser(
            pool, advertiser_id=advertiser_id, body=body, public_url=settings.public_url
        ),
    )


@advertisers.post("/{advertiser_id}/rotate-token", response_model=AdvertiserOut)
async def rotate_postback_token(
    advertiser_id: IdPath, pool: PoolDep, redis: RedisDep, settings: SettingsDep, _: AdminKey
) -> AdvertiserOut:
    """Issue a new postback token; the old one stops working at once."""
    return await _announce(
        redis,
        advertiser_service.rotate_postback_token(
            pool, advertiser_id=advertiser_id, public_url=settings.public_url
        ),
    )


@advertisers.delete("/{advertiser_id}", status_code=204)
async def delete_advertiser(
    advertiser_id: IdPath, pool: PoolDep, redis: RedisDep, _: AdminKey
) -> Response:
    """Delete, or archive when the advertiser has offers or conversions."""
    await _announce(
        redis,
        _on_connection(
            pool,
            lambda conn: advertiser_service.delete_advertiser(conn, advertiser_id=advertiser_id),
        ),
    )
    return NO_CONTENT


# --- offers ------------------------------------------------------------------------

offers = APIRouter(prefix="/offers", tags=["offers"])


@offers.post("", status_code=201, response_model=OfferOut)
async def create_offer(body: OfferIn, pool: PoolDep, redis: RedisDep, _: AdminKey) -> OfferOut:
    return await _announce(
        redis, _on_connection(pool, lambda conn: offer_service.create_offer(conn, body=body))
    )


@offers.get("", response_model=Page[OfferOut])
async def list_offers(
    pool: PoolDep, _: AdminKey, query: Filters[offer_service.OfferQuery]
) -> Page[OfferOut]:
    return await offer_service.list_offers(pool, query=query)


@offers.get("/{offer_id}", response_model=OfferOut)
async def get_offer(offer_id: IdPath, pool: PoolDep, _: AdminKey) -> OfferOut:
    return await offer_service.get_offer(pool, offer_id=offer_id)


@offers.patch("/{offer_id}", response_model=OfferOut)
async def update_offer(
    offer_id: IdPath, body: OfferPatch, pool: PoolDep, redis: RedisDep, _: AdminKey
) -> OfferOut:
    """Change the fields given; a list given (goals, payout_overrides, caps) replaces the old."""
    return await _announce(
        redis,
        _on_connection(
            pool, lambda conn: offer_service.update_offer(conn, offer_id=offer_id, body=body)
        ),
    )


@offers.delete("/{offer_id}", status_code=204)
async def delete_offer(offer_id: IdPath, pool: PoolDep, redis: RedisDep, _: AdminKey) -> Response:
    """Delete, or archive when links point at the offer (they then go to its fallback)."""
    await _announce(
        redis,
        _on_connection(pool, lambda conn: offer_service.delete_offer(conn, offer_id=offer_id)),
    )
    return NO_CONTENT


# --- affiliates --------------------------------------------------------------------

affiliates = APIRouter(prefix="/affiliates", tags=["affiliates"])


AffiliateStatus = Literal["applied", "active", "rejected", "suspended", "archived", "paused"]


@affiliates.post("", status_code=201, response_model=AffiliateOut)
async def create_affiliate(
    body: AffiliateIn, pool: PoolDep, settings: SettingsDep, caller: AdminKey
) -> AffiliateOut:
    return await _on_connection(
        pool,
        lambda conn: affiliate_service.create_affiliate(
            conn,
            body=body,
            actor=actor_of(caller),
            allowed_networks=settings.sender_allowed_networks,
        ),
    )


@affiliates.get("", response_model=Page[AffiliateOut])
async def list_affiliates(
    pool: PoolDep,
    caller: CurrentKey,
    page: PageQuery,
    status: Annotated[AffiliateStatus | None, Query(description="paused: suspended")] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    group_id: IdQuery = None,
) -> Page[AffiliateOut]:
    """All affiliates for an admin; an affiliate key sees itself only."""
    return await affiliate_service.list_affiliates(
        pool,
        page=page,
        only_affiliate_id=caller.affiliate_id,
        status="suspended" if status == "paused" else status,
        tag=tag,
        group_id=group_id,
    )


@affiliates.get("/{affiliate_id}", response_model=AffiliateOut)
async def get_affiliate(affiliate_id: IdPath, pool: PoolDep, caller: CurrentKey) -> AffiliateOut:
    caller.require_affiliate_access(affiliate_id)
    return await affiliate_service.get_affiliate(pool, affiliate_id=affiliate_id)


@affiliates.patch("/{affiliate_id}", response_model=AffiliateOut)
async def update_affiliate(
    affiliate_id: IdPath,
    body: AffiliatePatch,
    pool: PoolDep,
    redis: RedisDep,
    settings: SettingsDep,
    caller: CurrentKey,
) -> AffiliateOut:
    """Admin: any field (a status change follows the lifecycle, 409 otherwise). The
    affiliate's own key: company, website, country and contact only."""
    caller.require_affiliate_access(affiliate_id)
    # A suspended affiliate's links go to the fallback: the redirect caches must hear of it.
    return await _announce(
        redis,
        _on_connection(
            pool,
            lambda conn: affiliate_service.update_affiliate(
                conn,
                affiliate_id=affiliate_id,
                body=body,
                actor=actor_of(caller),
                allowed_networks=settings.sender_allowed_networks,
            ),
        ),
    )


@affiliates.delete("/{affiliate_id}", status_code=204)
async def delete_affiliate(
    affiliate_id: IdPath, pool: PoolDep, redis: RedisDep, caller: AdminKey
) -> Response:
    """Delete, or archive when links, keys or offer rules refer to the affiliate."""
    await _announce(
        redis,
        _on_connection(
            pool,
            lambda conn: affiliate_service.delete_affiliate(
                conn, affiliate_id=affiliate_id, actor=actor_of(caller)
            ),
        ),
    )
    return NO_CONTENT


# --- links -------------------------------------------------------------------------

links = APIRouter(prefix="/links", tags=["links"])


@links.post("", status_code=201, response_model=LinkOut)
async def create_link(
    body: LinkIn, pool: PoolDep, redis: RedisDep, settings: SettingsDep, _: AdminKey
) -> LinkOut:
    return await _announce(
        redis, link_service.create_link(pool, body=body, public_url=settings.public_url)
    )


@links.get("", response_model=Page[LinkOut])
async def list_links(
    pool: PoolDep, settings: SettingsDep, caller: CurrentKey, query: Filters[link_service.LinkQuery]
) -> Page[LinkOut]:
    """All links for an admin; an affiliate key sees its own only."""
    return await link_service.list_links(
        pool, query=query.scoped(caller), public_url=settings.public_url
    )


@links.get("/{link_id}", response_model=LinkOut)
async def get_link(
    link_id: IdPath, pool: PoolDep, settings: SettingsDep, caller: CurrentKey
) -> LinkOut:
    link = await link_service.get_link(pool, link_id=link_id, public_url=settings.public_url)
    caller.require_affiliate_access(link.affiliate_id)
    return link


@links.patch("/{link_id}", response_model=LinkOut)
async def update_link(
    link_id: IdPath,
    body: LinkPatch,
    pool: PoolDep,
    redis: RedisDep,
    settings: SettingsDep,
    _: AdminKey,
) -> LinkOut:
    """Archive or reactivate a link. Its code and target stay fixed once shared."""
    return await _announce(
        redis,
        link_service.set_link_status(
            pool, link_id=link_id, status=body.status, public_url=settings.public_url
        ),
    )


@links.delete("/{link_id}", status_code=204)
async def delete_link(link_id: IdPath, pool: PoolDep, redis: RedisDep, _: AdminKey) -> Response:
    """Archive the link: it keeps redirecting, to the offer's fallback URL."""
    await _announce(redis, link_service.archive_link(pool, link_id=link_id))
    return NO_CONTENT


for sub in (advertisers, offers, affiliates, links):
    router.include_router(sub)
