"""CRM integrations: create, list, change, remove (admin only), and their secrets.

HubSpot signs with the app's client secret, which the admin gives; the other providers'
secrets are generated when omitted. A secret is shown in the create response only. A
Zoho token is kept as its SHA-256 (it is only compared); HMAC keys are kept as given,
since checking a signature needs them (as advertisers' signing secrets are).
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import asyncpg

from app import sealing
from app.db import Executor
from app.errors import BadRequest, Conflict, NotFound, found
from app.integrations import queries, sealed
from app.integrations.mapping import field_map_for, generic_problem
from app.integrations.schemas import (
    CreatedIntegration,
    FieldMap,
    IntegrationIn,
    IntegrationOut,
    IntegrationPatch,
)
from app.pagination import Page, PageParams
from app.sealing import Sealer


def inbound_url(public_url: str, provider: str, integration_id: int) -> str:
    return f"{public_url}/integrations/{provider}/{integration_id}"


def _out(row: asyncpg.Record, public_url: str) -> IntegrationOut:
    return IntegrationOut(
        **{k: v for k, v in row.items() if k != "secret_set"},
        secret_set=row["secret_set"],
        inbound_url=inbound_url(public_url, row["provider"], row["id"]),
    )


def _stage_map(body: IntegrationIn | IntegrationPatch) -> dict[str, Any] | None:
    if body.stage_map is None:
        return None
    return {
        stage: target if isinstance(target, str) else target.model_dump(exclude_none=True)
        for stage, target in body.stage_map.items()
    }


def _secret_columns(
    sealer: Sealer | None, integration_id: int, provider: str, secret: str
) -> tuple[str | None, bytes | None]:
    """(HMAC key sealed, token hash): a Zoho token is hashed, any other key sealed."""
    if provider == "zoho":
        return None, hashlib.sha256(secret.encode()).digest()
    return sealed.seal(sealer, integration_id, secret), None


async def _check_owner(conn: Executor, *, advertiser_id: int, offer_id: int | None) -> None:
    row = await conn.fetchrow(queries.OWNER, advertiser_id, offer_id)
    if row is None:
        raise Conflict(f"advertiser {advertiser_id} does not exist", code="invalid_reference")
    if row["advertiser_status"] != "active":
        raise Conflict(f"advertiser {advertiser_id} is archived", code="archived")
    if offer_id is not None and row["offer_advertiser_id"] != advertiser_id:
        raise Conflict(
            f"offer {offer_id} is not an offer of advertiser {advertiser_id}",
            code="invalid_reference",
        )


async def create_integration(
    conn: Executor, *, body: IntegrationIn, public_url: str, sealer: Sealer | None
) -> CreatedIntegration:
    await _check_owner(conn, advertiser_id=body.advertiser_id, offer_id=body.offer_id)
    secret = body.secret or secrets.token_urlsafe(32)
    if body.provider != "zoho":
        sealing.require(sealer)  # before the id is taken
    integration_id = await conn.fetchval(queries.NEXT_ID)
    hmac_key, token_hash = _secret_columns(sealer, integration_id, body.provider, secret)
    row = await conn.fetchrow(
        queries.INSERT,
        integration_id,
        body.provider,
        body.advertiser_id,
        body.offer_id,
        body.name,
        hmac_key,
        token_hash,
        _stage_map(body),
        field_map_for(body.provider, body.field_map.given()),
    )
    assert row is not None
    return CreatedIntegration(**_out(row, public_url).model_dump(), secret=secret)


async def list_integrations(
    conn: Executor, *, page: PageParams, advertiser_id: int | None, public_url: str
) -> Page[IntegrationOut]:
    rows = await conn.fetch(*queries.LIST.bind(page.after, page.limit, advertiser_id))
    return page.of([_out(r, public_url) for r in rows], rows)


async def _found(conn: Executor, integration_id: int) -> asyncpg.Record:
    return found(await conn.fetchrow(queries.GET, integration_id), "integration", integration_id)


async def get_integration(
    conn: Executor, *, integration_id: int, public_url: str
) -> IntegrationOut:
    return _out(await _found(conn, integration_id), public_url)


async def update_integration(
    conn: Executor,
    *,
    integration_id: int,
    body: IntegrationPatch,
    public_url: str,
    sealer: Sealer | None,
) -> IntegrationOut:
    current = await _found(conn, integration_id)
    provider = current["provider"]
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name not in body.nullable:
            raise BadRequest(f"{name}: may not be null", code="invalid_request")
        if name == "offer_id" and value is not None:
            await _check_owner(conn, advertiser_id=current["advertiser_id"], offer_id=value)
        if name == "secret":
            changes["secret"], changes["token_hash"] = _secret_columns(
                sealer, integration_id, provider, value
            )
        elif name == "stage_map":
            changes["stage_map"] = _stage_map(body)
        elif name == "field_map":
            assert isinstance(value, FieldMap)
            changes["field_map"] = field_map_for(provider, value.given())
        else:
            changes[name] = value
    if (
        "field_map" in changes
        and provider == "generic"
        and (problem := generic_problem(changes["field_map"]))
    ):
        # The body is a field map; it is the stored provider that refuses it.
        raise Conflict(problem, code="invalid_field_map")
    if not changes:
        return _out(current, public_url)
    casts = {"stage_map": "::jsonb", "field_map": "::jsonb"}
    assignments = ", ".join(
        f"{name} = ${i}{casts.get(name, '')}" for i, name in enumerate(changes, start=2)
    )
    sql = (
        f"UPDATE integrations SET {assignments}, updated_at = now() WHERE id = $1 "
        f"RETURNING {queries.COLUMNS}"
    )
    row = found(
        await conn.fetchrow(sql, integration_id, *changes.values()), "integration", integration_id
    )
    return _out(row, public_url)


async def delete_integration(conn: Executor, *, integration_id: int) -> None:
    if await conn.fetchval(queries.DELETE, integration_id) is None:
        raise NotFound(f"integration {integration_id} does not exist")
