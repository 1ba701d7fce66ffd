"""E-mail routes: an affiliate's lists, announcements, the unsubscribe page (public; the
token in the URL is the credential) and, in development, the mail the catcher caught."""

from __future__ import annotations

import html
from email.parser import BytesHeaderParser
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app import assets
from app.api_params import IdPath
from app.deps import AdminKey, CurrentKey, PoolDep, SettingsDep
from app.errors import Conflict
from app.mail import announcements, catcher, log, preferences, unsubscribe
from app.pagination import (
    Filters,
    Page,
    PageQuery,
)

router = APIRouter(tags=["mail"])
# Pages, like the dashboard: not part of the API's schema.
public = APIRouter(tags=["mail"], include_in_schema=False)


@router.get("/affiliates/{affiliate_id}/notifications", response_model=preferences.PreferencesOut)
async def get_notifications(
    affiliate_id: IdPath, pool: PoolDep, caller: CurrentKey
) -> preferences.PreferencesOut:
    """The opt-in lists the affiliate is on (an affiliate key: its own)."""
    caller.require_affiliate_access(affiliate_id)
    return await preferences.get(pool, affiliate_id=affiliate_id)


@router.put("/affiliates/{affiliate_id}/notifications", response_model=preferences.PreferencesOut)
async def put_notifications(
    affiliate_id: IdPath, body: preferences.PreferencesIn, pool: PoolDep, caller: CurrentKey
) -> preferences.PreferencesOut:
    """Replace the three choices (each list is opt-in; transactional mail always goes)."""
    caller.require_affiliate_access(affiliate_id)
    return await preferences.put(pool, affiliate_id=affiliate_id, body=body)


class ProgramAddressMissing(Conflict, code="program_address_missing"): ...


@router.post(
    "/announcements",
    status_code=201,
    response_model=announcements.AnnouncementOut,
    responses={409: {"description": "invalid_reference, or PROGRAM_ADDRESS is unset"}},
)
async def create_announcement(
    body: announcements.AnnouncementIn, pool: PoolDep, settings: SettingsDep, caller: AdminKey
) -> announcements.AnnouncementOut:
    """Address the active affiliates of `audience`; mail it to those on the list."""
    if not settings.program_address:
        # CAN-SPAM: every bulk message carries the sender's postal address.
        raise ProgramAddressMissing("set PROGRAM_ADDRESS (the program's postal address) first")
    async with pool.acquire() as conn:
        return await announcements.create(conn, body=body, author_key_id=caller.key_id)


@router.get("/announcements", response_model=Page[announcements.AnnouncementOut])
async def list_announcements(
    pool: PoolDep, caller: CurrentKey, page: PageQuery
) -> Page[announcements.AnnouncementOut]:
    """Oldest first; an affiliate key sees those addressed to it."""
    return await announcements.list_announcements(
        pool, page=page, affiliate_id=caller.only_affiliate_id
    )


@router.get("/announcements/{announcement_id}", response_model=announcements.AnnouncementOut)
async def get_announcement(
    announcement_id: IdPath, pool: PoolDep, caller: CurrentKey
) -> announcements.AnnouncementOut:
    return await announcements.get_announcement(
        pool, announcement_id=announcement_id, affiliate_id=caller.only_affiliate_id
    )


@router.get("/mail", response_model=Page[log.MailOut])
async def list_mail(pool: PoolDep, _: AdminKey, query: Filters[log.MailQuery]) -> Page[log.MailOut]:
    """The outbox, oldest first: every mail with its status (admin only)."""
    return await log.list_mail(pool, query=query)


@router.get("/mail/{mail_id}", response_model=log.MailDetailOut)
async def get_mail(mail_id: IdPath, pool: PoolDep, _: AdminKey) -> log.MailDetailOut:
    """One mail and each try to send it (time, SMTP code, error)."""
    return await log.get_mail(pool, mail_id=mail_id)


# --- the unsubscribe page ------------------------------------------------------------

_PAGE_HEADERS = assets.headers(
    "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_LIST_TITLES = {
    "announcements": "announcements",
    "digest": "the daily digest",
    "offer_changes": "offer changes",
}


def _page(title: str, body: str, status: int = 200) -> Response:
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>"
    )
    return Response(page, status_code=status, media_type=assets.HTML, headers=_PAGE_HEADERS)


_UNKNOWN = "<p>This unsubscribe link is not valid.</p>"


async def _read(pool: PoolDep, token: str) -> tuple[int, str] | None:
    return unsubscribe.read_token(await unsubscribe.signing_key(pool), token)


@public.get("/unsubscribe/{token}")
async def unsubscribe_page(token: str, pool: PoolDep, settings: SettingsDep) -> Response:
    """A confirmation page whose form POSTs to this same URL (a GET changes nothing: mail
    scanners follow links)."""
    found = await _read(pool, token)
    if found is None:
        return _page("Unsubscribe", _UNKNOWN, 404)
    what = html.escape(_LIST_TITLES[found[1]])
    return _page(
        "Unsubscribe",
        f"<p>Stop e-mail about {what} from {html.escape(settings.program_name)}?</p>"
        '<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@public.post("/unsubscribe/{token}")
async def unsubscribe_now(token: str, pool: PoolDep) -> Response:
    """RFC 8058 one-click (body `List-Unsubscribe=One-Click`) and the page's form alike:
    the token names the affiliate and the list, so no cookie or login is asked for."""
    found = await _read(pool, token)
    if found is None or not await unsubscribe.unsubscribe(
        pool, affiliate_id=found[0], list_name=found[1]
    ):
        return _page("Unsubscribe", _UNKNOWN, 404)
    what = html.escape(_LIST_TITLES[found[1]])
    return _page("Unsubscribed", f"<p>You will get no more e-mail about {what}.</p>")


# --- development: the catcher's mail -------------------------------------------------

_NAME = r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}\.eml$"


@public.get("/dev/mail")
async def dev_mail(settings: SettingsDep) -> Response:
    """What `tracker dev`'s SMTP catcher caught, newest first (404 outside it)."""
    folder = settings.dev_mail_dir
    if settings.environment != "development" or folder is None:
        return _page("Not found", "", 404)
    rows = []
    for path in catcher.caught(folder)[:500]:
        with path.open("rb") as f:
            head = BytesHeaderParser().parse(f)
        cells = [head.get(n, "") for n in ("Date", "To", "Subject")]
        link = f'<a href="/dev/mail/{html.escape(path.name)}">{html.escape(cells[2])}</a>'
        rows.append(
            f"<tr><td>{html.escape(cells[0])}</td><td>{html.escape(cells[1])}</td>"
            f"<td>{link}</td></tr>"
        )
    table = "<table><tr><th>Date</th><th>To</th><th>Subject</th></tr>" + "".join(rows)
    return _page("Mail caught", f"<p>{html.escape(str(folder))}</p>{table}</table>")


@public.get("/dev/mail/{name}")
async def dev_mail_message(
    name: Annotated[str, Path(pattern=_NAME)], settings: SettingsDep
) -> Response:
    folder = settings.dev_mail_dir
    path = folder / name if folder is not None else None
    if settings.environment != "development" or path is None or not path.is_file():
        return _page("Not found", "", 404)
    return Response(
        path.read_bytes(), media_type="text/plain; charset=utf-8", headers=_PAGE_HEADERS
    )
