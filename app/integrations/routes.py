"""`/api/v1/integrations` (admin) and the CRMs' inbound `POST /integrations/{provider}/{id}`."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from app.api_params import IdPath, IdQuery
from app.deps import AdminKey, AppStateDep, PoolDep, PublicUrl, SealerDep
from app.integrations import inbound
from app.integrations import service as integrations_service
from app.integrations.schemas import (
    Accepted,
    CreatedIntegration,
    Ignored,
    IntegrationIn,
    IntegrationOut,
    IntegrationPatch,
    Provider,
)
from app.pagination import (
    Page,
    PageQuery,
)
from app.postbacks import service as intake_service
from app.proxies import TrustedProxies

router = APIRouter(prefix="/integrations", tags=["integrations"])
inbound_router = APIRouter(tags=["integrations"])

NO_STORE = {"Cache-Control": "no-store"}


@router.post("", status_code=201, response_model=CreatedIntegration)
async def create_integration(
    body: IntegrationIn, pool: PoolDep, public_url: PublicUrl, sealer: SealerDep, _: AdminKey
) -> CreatedIntegration:
    return await integrations_service.create_integration(
        pool, body=body, public_url=public_url, sealer=sealer
    )


@router.get("", response_model=Page[IntegrationOut])
async def list_integrations(
    *,
    pool: PoolDep,
    public_url: PublicUrl,
    _: AdminKey,
    advertiser_id: IdQuery = None,
    page: PageQuery,
) -> Page[IntegrationOut]:
    return await integrations_service.list_integrations(
        pool,
        page=page,
        advertiser_id=advertiser_id,
        public_url=public_url,
    )


@router.get("/{integration_id}", response_model=IntegrationOut)
async def get_integration(
    integration_id: IdPath, pool: PoolDep, public_url: PublicUrl, _: AdminKey
) -> IntegrationOut:
    return await integrations_service.get_integration(
        pool, integration_id=integration_id, public_url=public_url
    )


@router.patch("/{integration_id}", response_model=IntegrationOut)
async def update_integration(
    integration_id: IdPath,
    body: IntegrationPatch,
    pool: PoolDep,
    public_url: PublicUrl,
    sealer: SealerDep,
    _: AdminKey,
) -> IntegrationOut:
    return await integrations_service.update_integration(
        pool,
        integration_id=integration_id,
        body=body,
        public_url=public_url,
        sealer=sealer,
    )


@router.delete("/{integration_id}", status_code=204)
async def delete_integration(integration_id: IdPath, pool: PoolDep, _: AdminKey) -> Response:
    await integrations_service.delete_integration(pool, integration_id=integration_id)
    return Response(status_code=204)


INBOUND_DOC: dict[str, Any] = {
    "summary": "A CRM's deal stage change (HubSpot, Salesforce, Zoho or any JSON)",
    "description": "See the README's CRM integrations. The body is the CRM's own (JSON, or "
    "a form for Zoho); it is read through the integration's field_map.",
    "openapi_extra": {
        "requestBody": {
            "content": {
                "application/json": {"schema": {}},
                "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
            }
        }
    },
    "responses": {
        200: {
            "description": "queued durably (attribution happens in the worker)",
            "model": Accepted,
        },
        202: {"description": "nothing to do: an unmapped stage, ...", "model": Ignored},
        401: {"description": "a missing, wrong or stale signature or token"},
        409: {"description": "this exact signed request was accepted before (a replay)"},
        413: {"description": "body too large"},
        415: {"description": "a body the provider does not send"},
        503: {"description": "neither Redis nor the local spool could take the conversion"},
    },
}


def _uri(request: Request, trusted: TrustedProxies) -> str:
    scope = request.scope
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    origin: str = trusted.origin(
        request.client.host if request.client else "",
        scheme=scope.get("scheme", "http"),
        host=request.headers.get("host", ""),
        forwarded_proto=request.headers.get("x-forwarded-proto"),
        forwarded_host=request.headers.get("x-forwarded-host"),
    )
    tail = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    return origin + tail


@inbound_router.post(
    "/integrations/{provider}/{integration_id}", response_model=None, **INBOUND_DOC
)
async def receive_call(
    provider: Provider, integration_id: IdPath, request: Request, resources: AppStateDep
) -> Response:
    intake = resources.intake
    body = await intake_service.read_body(
        request.stream(),
        declared=request.headers.get("content-length"),
        limit=intake.settings.postback_max_body_bytes,
    )
    call = inbound.Call(
        method=request.method,
        uri=_uri(request, intake.trusted),
        query=request.scope.get("query_string", b""),
        headers=request.headers,
        body=body,
    )
    outcome = await inbound.receive(
        resources.pool,
        intake,
        provider=provider,
        integration_id=integration_id,
        call=call,
        content_type=request.headers.get("content-type", ""),
        sealer=resources.sealer,
    )
    answer: dict[str, Any]
    if outcome.accepted:
        status, answer = 200, {"status": "accepted"}
        if outcome.batch:
            answer |= {"accepted": outcome.accepted, "ignored": len(outcome.ignored)}
    else:
        status = 202
        answer = {"status": "ignored", "reason": "; ".join(outcome.ignored[:5]) or "no deals"}
    return Response(
        orjson.dumps(answer), status_code=status, media_type="application/json", headers=NO_STORE
    )
