"""CRM integrations (owners only, as the API's are admin-only): the list with each one's
inbound URL, a new one (its secret shown once), and one's settings (name, offer, status,
stages, a new secret); by the integrations API's own service functions."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.errors import AppError, NotFound
from app.integrations import service
from app.integrations.mapping import FIELDS
from app.integrations.schemas import (
    PROVIDERS,
    CreatedIntegration,
    FieldMap,
    IntegrationIn,
    IntegrationPatch,
)
from app.pagination import PageParams
from app.portal import web
from app.portal.manage import Staff, StaffDep, not_changed, owner_only, staff_form

router = APIRouter(prefix="/manage/integrations", include_in_schema=False)

SHOWN = 200
_DONE = re.compile(r"^saved:(\d{1,18})$")
STAGES_HINT = (
    "One stage a line: Closed won = approved, or with a goal: Closed won = sale:approved "
    "(statuses: approved, pending, rejected)."
)


def stage_lines(text: str) -> dict[str, Any]:
    """The stages textarea as a stage map: `stage = status` or `stage = goal:status`."""
    stages: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        stage, sep, target = line.rpartition("=")
        if not sep or not stage.strip():
            raise ValueError(STAGES_HINT)
        goal, _, status = target.strip().rpartition(":")
        stages[stage.strip()] = {"goal": goal, "status": status} if goal else status
    return stages


def stage_text(stages: dict[str, Any]) -> str:
    return "\n".join(
        f"{stage} = {t if isinstance(t, str) else (t.goal + ':' if t.goal else '') + t.status}"
        for stage, t in stages.items()
    )


def _bad(staff: Staff, exc: ValidationError | ValueError) -> Response:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return not_changed(staff, f"{where}: {first['msg']}" if where else first["msg"], 400)
    return not_changed(staff, str(exc), 400)


async def _list(request: Request, staff: Staff, made: CreatedIntegration | None) -> Response:
    public_url = web.state(request).settings.public_url
    listed = await service.list_integrations(
        staff.pool, page=PageParams(limit=SHOWN), advertiser_id=None, public_url=public_url
    )
    match = _DONE.match(request.query_params.get("done") or "")
    form = {"providers": PROVIDERS, "fields": FIELDS, "hint": STAGES_HINT}
    return web.render(
        "integrations.html",
        {
            **form,
            "rows": listed.items,
            "made": made,
            "notice": f"Integration {match[1]} saved." if match else None,
            "user": staff.user,
            "nav": "integrations",
        },
        status=201 if made else 200,
    )


@router.get("")
async def integrations_page(request: Request, staff: StaffDep) -> Response:
    owner_only(staff)
    return await _list(request, staff, None)


@router.post("")
async def create(request: Request, staff: StaffDep) -> Response:
    """A new integration; the page it answers with is the only place its secret is shown."""
    owner_only(staff)
    form = await staff_form(request, staff)
    try:
        body = IntegrationIn(
            provider=form.get("provider", ""),  # type: ignore[arg-type]
            advertiser_id=web.url_id(form.get("advertiser_id")) or 0,
            offer_id=web.url_id(form.get("offer_id")),
            name=form.get("name") or None,
            secret=form.get("secret") or None,
            stage_map=stage_lines(form.get("stages", "")),
            field_map=FieldMap(**{f: form[f"field_{f}"] for f in FIELDS if form.get(f"field_{f}")}),
        )
    except (ValidationError, ValueError) as exc:
        return _bad(staff, exc)
    state = web.state(request)
    try:
        made = await service.create_integration(
            staff.pool, body=body, public_url=state.settings.public_url, sealer=state.sealer
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return await _list(request, staff, made)


async def _found(request: Request, staff: Staff, text: str) -> Any:
    integration_id = web.url_id(text)
    if integration_id is None:
        raise web.PageAnswer(web.not_found(staff.user))
    public_url = web.state(request).settings.public_url
    try:
        return await service.get_integration(
            staff.pool, integration_id=integration_id, public_url=public_url
        )
    except NotFound:
        raise web.PageAnswer(web.not_found(staff.user)) from None


@router.get("/{integration_text}")
async def integration_page(request: Request, integration_text: str, staff: StaffDep) -> Response:
    owner_only(staff)
    row = await _found(request, staff, integration_text)
    return web.render(
        "integration.html",
        {
            "user": staff.user,
            "nav": "integrations",
            "r": row,
            "stages": stage_text(row.stage_map),
            "hint": STAGES_HINT,
        },
    )


@router.post("/{integration_text}")
async def save(request: Request, integration_text: str, staff: StaffDep) -> Response:
    """The settings form: name, offer, status, stages, and a new secret if one is given."""
    owner_only(staff)
    form = await staff_form(request, staff)
    row = await _found(request, staff, integration_text)
    fields: dict[str, Any] = {
        "name": form.get("name") or None,
        "offer_id": web.url_id(form.get("offer_id")),
        "status": form.get("status", ""),
    }
    if form.get("secret"):
        fields["secret"] = form["secret"]
    try:
        fields["stage_map"] = stage_lines(form.get("stages", ""))
        body = IntegrationPatch(**fields)
    except (ValidationError, ValueError) as exc:
        return _bad(staff, exc)
    state = web.state(request)
    try:
        await service.update_integration(
            staff.pool,
            integration_id=row.id,
            body=body,
            public_url=state.settings.public_url,
            sealer=state.sealer,
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/integrations?done=saved:{row.id}")
