"""The program's application form (/join), for people: POST /apply's own services (the
rate limit per client address, the same validation, an `applied` affiliate), with the
form's token like the other pages before sign-in."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.errors import AppError
from app.partners import apply as apply_service
from app.portal import web

router = APIRouter(include_in_schema=False)

FIELDS = ("name", "email", "website", "traffic_sources", "message")


@router.get("/join")
async def join_page(request: Request) -> Response:
    return web.anonymous_page(request, "join.html", {"fields": {}})


@router.post("/join")
async def join(request: Request) -> Response:
    form = await web.read_form(request)
    if not web.form_token_ok(request, form):
        return web.csrf_refused()
    fields = {name: form.get(name, "").strip() for name in FIELDS}
    resources = web.state(request)
    try:
        await apply_service.check_rate(
            resources.redis,
            ip=web.client_ip(request),
            per_hour=resources.settings.apply_rate_per_hour,
        )
        await apply_service.submit(resources.pool, body=apply_service.of_form(fields))
    except AppError as exc:
        context = {"fields": fields, "error": exc.message}
        return web.anonymous_page(request, "join.html", context, status=exc.status)
    # The same answer whether or not the address is registered already, as POST /apply.
    return web.anonymous_page(request, "join.html", {"fields": {}, "sent": True})
