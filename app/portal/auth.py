"""Sign-in (at /), sign-out, a forgotten password, and the links that set a password."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.accounts import limits, passwords, sessions
from app.accounts import users as account_users
from app.accounts.sessions import SessionUser
from app.errors import AppError
from app.portal import web

router = APIRouter(include_in_schema=False)

SESSION_LIFETIME = timedelta(days=14)
SIGN_IN_LIMITS = limits.SignInLimits()


def home_of(user: SessionUser) -> str:
    return "/manage" if user.is_staff else "/partner"


@router.get("/")
async def sign_in_page(request: Request) -> Response:
    user = await web.signed_in(request)
    if user is not None:
        return web.see_other(home_of(user))
    return web.anonymous_page(request, "sign_in.html", {"email": ""})


async def _start(request: Request, user_id: int) -> Response:
    pool = web.state(request).pool
    token = await sessions.start(
        pool,
        user_id=user_id,
        ip=web.client_ip(request),
        user_agent=request.headers.get("user-agent"),
        lifetime=SESSION_LIFETIME,
    )
    user = await sessions.find(pool, token)
    response = web.see_other(home_of(user) if user else "/")
    web.set_cookie(
        request,
        response,
        sessions.SESSION_COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
    )
    return response


@router.post("/")
async def sign_in(request: Request) -> Response:
    form = await web.read_form(request)
    if not web.form_token_ok(request, form):
        return web.csrf_refused()
    email, password = form.get("email", "").strip()[:320], form.get("password", "")
    resources = web.state(request)
    try:
        user_id = await sessions.sign_in(
            resources.pool,
            resources.redis,
            SIGN_IN_LIMITS,
            email=email,
            password=password,
            ip=web.client_ip(request),
        )
    except AppError as exc:
        page = web.anonymous_page(
            request, "sign_in.html", {"email": email, "error": exc.message}, status=exc.status
        )
        if exc.headers:
            page.headers.update(exc.headers)
        return page
    return await _start(request, user_id)


async def _signed_in_form(request: Request) -> tuple[SessionUser | None, dict[str, str]]:
    user = await web.signed_in(request)
    form = await web.read_form(request)
    if user is not None and not sessions.same_token(form.get("csrf_token"), user.csrf_token):
        return None, form
    return user, form


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    user, _ = await _signed_in_form(request)
    if user is None:
        return web.csrf_refused() if await web.signed_in(request) else web.see_other("/")
    await sessions.end(web.state(request).pool, request.cookies.get(sessions.SESSION_COOKIE))
    response = web.see_other("/")
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


@router.post("/sign-out-everywhere")
async def sign_out_everywhere(request: Request) -> Response:
    user, _ = await _signed_in_form(request)
    if user is None:
        return web.csrf_refused() if await web.signed_in(request) else web.see_other("/")
    await sessions.end_all(web.state(request).pool, user_id=user.id)
    response = web.see_other("/?signed_out=everywhere")
    response.delete_cookie(sessions.SESSION_COOKIE, path="/")
    return response


@router.get("/forgot")
async def forgot_page(request: Request) -> Response:
    return web.anonymous_page(request, "forgot.html", {"email": ""})


@router.post("/forgot")
async def forgot(request: Request) -> Response:
    form = await web.read_form(request)
    if not web.form_token_ok(request, form):
        return web.csrf_refused()
    email = form.get("email", "").strip()[:320]
    resources = web.state(request)
    try:
        # The same per-address limit as sign-in: reset mail is no way around it.
        await limits.check(resources.redis, SIGN_IN_LIMITS, email="", ip=web.client_ip(request))
    except limits.SignInLocked as exc:
        return web.anonymous_page(
            request, "forgot.html", {"email": email, "error": exc.message}, status=429
        )
    if email:
        async with resources.pool.acquire() as conn:
            await account_users.request_reset(conn, email=email)
    return web.anonymous_page(request, "forgot.html", {"email": email, "sent": True})


_LINKS = {"invite": "Choose your password", "reset": "Choose a new password"}


async def _link_page(request: Request, purpose: str, token: str) -> Response:
    email = await sessions.link_email(web.state(request).pool, token=token, purpose=purpose)
    if email is None:
        return web.render(
            "message.html",
            {
                "title": "This link does not work",
                "message": "It has expired or was used already. Ask for a new one.",
                "user": None,
            },
            status=410,
        )
    return web.anonymous_page(
        request,
        "set_password.html",
        {"title": _LINKS[purpose], "email": email, "min_length": passwords.MIN_LENGTH},
    )


async def _use_link(request: Request, purpose: str, token: str) -> Response:
    form = await web.read_form(request)
    if not web.form_token_ok(request, form):
        return web.csrf_refused()
    password = form.get("password", "")
    pool = web.state(request).pool
    error = None
    if password != form.get("confirm", ""):
        error = "The two passwords differ."
    else:
        try:
            user_id = await sessions.set_password_by_link(
                pool, token=token, purpose=purpose, password=password
            )
        except passwords.WeakPassword as exc:
            error = f"That password is too weak: {exc}."
        except AppError as exc:
            return web.render(
                "message.html",
                {"title": "This link does not work", "message": exc.message, "user": None},
                status=410,
            )
        else:
            return await _start(request, user_id)
    email = await sessions.link_email(pool, token=token, purpose=purpose)
    return web.anonymous_page(
        request,
        "set_password.html",
        {
            "title": _LINKS[purpose],
            "email": email,
            "error": error,
            "min_length": passwords.MIN_LENGTH,
        },
        status=400,
    )


def _link_routes(purpose: str) -> None:
    """GET shows the page of the link `purpose` (invite, reset); POST uses it."""

    async def page(request: Request, token: str) -> Response:
        return await _link_page(request, purpose, token)

    async def use(request: Request, token: str) -> Response:
        return await _use_link(request, purpose, token)

    router.add_api_route(f"/{purpose}/{{token}}", page, methods=["GET"])
    router.add_api_route(f"/{purpose}/{{token}}", use, methods=["POST"])


for _purpose in ("invite", "reset"):
    _link_routes(_purpose)
