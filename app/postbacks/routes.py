"""GET|POST /postback, GET /pixel.gif, GET /pixel.js (public: no API key)."""

from __future__ import annotations

import base64

from fastapi import APIRouter, Request, Response

from app.postbacks import service as intake_service
from app.postbacks.script import PIXEL_JS

router = APIRouter(tags=["postbacks"])

GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
ACCEPTED = b'{"status":"accepted"}'
NO_STORE = {"Cache-Control": "no-store"}


def _intake(request: Request) -> intake_service.Intake:
    intake: intake_service.Intake = request.app.state.intake
    return intake


POSTBACK_DOC = {
    "summary": "A conversion from an advertiser (query string, form or JSON)",
    "responses": {
        200: {"content": {"application/json": {"example": {"status": "accepted"}}}},
        400: {"description": "missing or malformed parameters"},
        401: {"description": "bad token or signature"},
        403: {"description": "the advertiser's IP allowlist does not hold the caller"},
        413: {"description": "body too large"},
        415: {"description": "neither a form nor JSON"},
        503: {"description": "neither Redis nor the local spool could take the conversion"},
    },
}


@router.post("/postback", operation_id="postback_post", **POSTBACK_DOC)  # type: ignore[arg-type]
@router.get("/postback", operation_id="postback_get", **POSTBACK_DOC)  # type: ignore[arg-type]
async def postback(request: Request) -> Response:
    # TrackerApp answers GET and POST /postback before routing (app/postbacks/asgi.py);
    # this route documents it and serves any app built without that fast path.
    await intake_service.receive_postback(
        _intake(request),
        method=request.method,
        query=request.scope["query_string"],
        headers=request.headers,
        peer=request.client.host if request.client else "",
        chunks=request.stream(),
    )
    return Response(ACCEPTED, media_type="application/json", headers=NO_STORE)


@router.get(
    "/pixel.gif",
    summary="A browser conversion pixel (always a 1x1 GIF)",
    response_class=Response,
    responses={200: {"content": {"image/gif": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def pixel_gif(request: Request) -> Response:
    intake = _intake(request)
    await intake_service.receive_pixel(
        intake,
        query=request.scope["query_string"],
        cookie=request.cookies.get(intake.settings.click_cookie),
        peer=request.client.host if request.client else "",
        forwarded_for=request.headers.get("x-forwarded-for"),
    )
    return Response(GIF, media_type="image/gif", headers=NO_STORE)


@router.get(
    "/pixel.js",
    summary="The first-party conversion script for advertisers' pages",
    response_class=Response,
    responses={200: {"content": {"application/javascript": {"schema": {"type": "string"}}}}},
)
async def pixel_js() -> Response:
    return Response(
        PIXEL_JS,
        media_type="application/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )
