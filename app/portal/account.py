"""Your account, for every signed-in user: the time zone and locale the portal shows your
times and numbers in (by the users API's own `update_user`), and signing out everywhere."""

from __future__ import annotations

from functools import cache
from zoneinfo import available_timezones

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.accounts import users
from app.accounts.schemas import UserPatch
from app.accounts.sessions import SessionUser, same_token
from app.errors import AppError
from app.portal import web

router = APIRouter(include_in_schema=False)

# Offered in the form; any other CLDR locale may still be typed (the field validates it).
LOCALES = (
    "en_US",
    "en_GB",
    "de_DE",
    "fr_FR",
    "es_ES",
    "it_IT",
    "nl_NL",
    "pt_BR",
    "pl_PL",
    "hi_IN",
    "ja_JP",
)


@cache
def _zones() -> list[str]:
    return sorted(z for z in available_timezones() if "/" in z or z == "UTC")


def _page(user: SessionUser, *, notice: str | None = None, error: str | None = None) -> Response:
    return web.render(
        "account.html",
        {
            "user": user,
            "nav": "account",
            "zones": _zones(),
            "locales": LOCALES,
            "notice": notice,
            "error": error,
        },
        status=400 if error else 200,
    )


@router.get("/account")
async def account_page(request: Request) -> Response:
    user = await web.signed_in(request)
    if user is None:
        return web.see_other("/")
    saved = request.query_params.get("saved") == "1"
    return _page(user, notice="Saved." if saved else None)


@router.post("/account")
async def save_account(request: Request) -> Response:
    user = await web.signed_in(request)
    if user is None:
        return web.see_other("/")
    form = await web.read_form(request)
    if not same_token(form.get("csrf_token"), user.csrf_token):
        return web.csrf_refused()
    try:
        body = UserPatch(time_zone=form.get("time_zone") or None, locale=form.get("locale") or None)
        async with web.state(request).pool.acquire() as conn:
            await users.update_user(conn, user_id=user.id, body=body, actor=user.actor)
    except ValidationError:
        return _page(user, error="That is not a time zone or a locale the portal knows.")
    except AppError as exc:
        return _page(user, error=exc.message)
    return web.see_other("/account?saved=1")
