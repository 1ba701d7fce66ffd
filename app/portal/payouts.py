"""The managers' payouts: affiliates' balances (a manager's own affiliates only), and for
owners the payout run (its preview by the run's own selection, then the run), the runs
with their export files, the payouts with Mark paid (and Mark failed, on a payout's
page), and one payout's lines. Every read
and change is the ledger's and payouts API's own service function (app.ledger,
app.payouts). Running and settling payouts is the owner's: a manager sees balances."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from app.catalog import affiliates as affiliate_service
from app.errors import AppError, NotFound
from app.ledger import service as ledger
from app.payouts import exports, service, statement
from app.payouts.schemas import FailedIn, PaidIn, PayoutQuery, RunIn, RunQuery, Status
from app.portal import web
from app.portal.manage import Staff, StaffDep, not_changed, owner_only, staff_form

router = APIRouter(prefix="/manage/payouts", include_in_schema=False)

BALANCES_SIZE = 50
RUNS_SIZE = 20
PAYOUTS_SIZE = 50
# A payout's page lists its entries this many at a time (a busy affiliate's month holds
# tens of thousands); the totals are over all of them, and the statement PDF lists every one.
LINES_SIZE = 100
STATUSES: tuple[str, ...] = get_args(Status)
SETTLED = ("paid", "failed")
FILES = (("paypal", "PayPal"), ("wise", "Wise"), ("csv", "CSV"))
_DONE = re.compile(r"^(run|paid|failed):(\d{1,18})$")
BAD_REFERENCE = "Mark paid needs the payment's reference (200 characters at most)."
BAD_REASON = "Mark failed needs the reason it failed (2,000 characters at most)."
BAD_RUN = "A run needs a currency (three capital letters, such as USD) and a day (YYYY-MM-DD)."


def _notice(done: str | None) -> str | None:
    match = _DONE.match(done or "")
    if match is None:
        return None
    if match[1] == "run":
        return f"Payout run {match[2]} made."
    if match[1] == "failed":
        return f"Payout {match[2]} marked failed: its money is available again."
    return f"Payout {match[2]} paid."


async def _balance_rows(request: Request, staff: Staff) -> tuple[list[dict[str, Any]], int | None]:
    """Each affiliate's balance per currency (a row each), and the next page's cursor."""
    after = web.url_id(request.query_params.get("bafter")) or 0
    among = staff.scope.affiliates
    if among == []:
        return [], None
    page = await ledger.balances(
        staff.pool,
        among=among,
        after=after,
        limit=BALANCES_SIZE,
        default_threshold=web.state(request).settings.payout_threshold,
    )
    ids = [b.affiliate_id for b in page]
    names = await affiliate_service.affiliate_names(staff.pool, ids)
    rows = [
        {"affiliate_id": b.affiliate_id, "name": names.get(b.affiliate_id, ""), **c.model_dump()}
        for b in page
        for c in b.balances
    ]
    return rows, (ids[-1] if len(ids) == BALANCES_SIZE else None)


def _run_body(currency: str | None, up_to: str | None) -> RunIn:
    """A run's body from the form, by the API's own rules (ValidationError otherwise)."""
    return RunIn.model_validate({"currency": currency or "", "up_to": up_to or ""})


async def _owner_part(request: Request, staff: Staff) -> tuple[dict[str, Any], str | None]:
    """What only an owner sees: the run form and its preview, the runs, the payouts."""
    q = request.query_params
    pool, resources = staff.pool, web.state(request)
    part: dict[str, Any] = {"preview": None, "currency": q.get("currency") or "USD"}
    part["up_to"] = q.get("up_to") or dt.datetime.now(dt.UTC).date().isoformat()
    error = None
    if q.get("preview"):
        try:
            part["preview"] = await service.preview_run(
                pool,
                body=_run_body(q.get("currency"), q.get("up_to")),
                default_threshold=resources.settings.payout_threshold,
                cipher=resources.payment_cipher,
            )
        except ValidationError:
            error = BAD_RUN
    runs_after = web.url_id(q.get("rafter")) or 0
    runs = await service.list_runs(
        pool, query=RunQuery(limit=RUNS_SIZE, cursor=str(runs_after) if runs_after else None)
    )
    part["runs"] = runs
    part["runs_next"] = runs[-1].id if len(runs) == RUNS_SIZE else None
    status = q.get("status") if q.get("status") in STATUSES else None
    run_id = web.url_id(q.get("run"))
    after = web.url_id(q.get("after")) or 0
    payouts = await service.list_payouts(
        pool,
        query=PayoutQuery.model_validate(
            {"limit": PAYOUTS_SIZE, "cursor": str(after), "status": status, "run": run_id}
        ),
    )
    part.update(payouts=payouts, status=status, run=run_id, statuses=STATUSES, files=FILES)
    part["payouts_next"] = payouts[-1].id if len(payouts) == PAYOUTS_SIZE else None
    part["exports"] = await _exports(request, run_id) if run_id else None
    return part, error


async def _exports(request: Request, run_id: int) -> list[dict[str, Any]] | None:
    """For one run, each payment file's parts and the payouts it leaves out."""
    resources = web.state(request)
    try:
        await service.get_run(resources.pool, run_id=run_id)
    except NotFound:
        return None
    made = []
    for fmt, label in FILES[:2]:
        file = await exports.export_run(
            resources.pool,
            run_id=run_id,
            fmt=fmt,  # type: ignore[arg-type]
            part=1,
            program_name=resources.settings.program_name,
            cipher=resources.payment_cipher,
        )
        made.append({"format": fmt, "label": label, "parts": file.parts, "skipped": file.skipped})
    return made


@router.get("")
async def payouts_page(request: Request, staff: StaffDep) -> Response:
    balances, balances_next = await _balance_rows(request, staff)
    owner: dict[str, Any] = {}
    error = None
    if staff.user.role == "owner":
        owner, error = await _owner_part(request, staff)
    return web.render(
        "payouts.html",
        {
            "user": staff.user,
            "nav": "payouts",
            "balances": balances,
            "balances_next": balances_next,
            "owner": owner,
            "error": error,
            "notice": _notice(request.query_params.get("done")),
        },
        status=400 if error else 200,
    )


@router.post("/runs")
async def create_run(request: Request, staff: StaffDep) -> Response:
    """The run the preview showed (the same currency and day), by the API's create_run."""
    owner_only(staff)
    form = await staff_form(request, staff)
    try:
        body = _run_body(form.get("currency"), form.get("up_to"))
    except ValidationError:
        return not_changed(staff, BAD_RUN, 400)
    try:
        run = await service.create_run(
            staff.pool,
            body=body,
            default_threshold=web.state(request).settings.payout_threshold,
            created_by=staff.user.actor,
        )
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    return web.see_other(f"/manage/payouts?run={run.id}&done=run:{run.id}")


@router.get("/runs/{run_text}/export")
async def export_run(request: Request, run_text: str, staff: StaffDep) -> Response:
    """A run's payment file: the bytes and headers of the API's own export."""
    owner_only(staff)
    q = request.query_params
    run_id, part = web.url_id(run_text), web.url_id(q.get("part") or "1")
    fmt = q.get("format") or "csv"
    if run_id is None or part is None or fmt not in get_args(exports.Format):
        return web.not_found(staff.user)
    resources = web.state(request)
    try:
        await service.get_run(staff.pool, run_id=run_id)
        made = await exports.export_run(
            staff.pool,
            run_id=run_id,
            fmt=fmt,  # type: ignore[arg-type]
            part=part,
            program_name=resources.settings.program_name,
            cipher=resources.payment_cipher,
        )
    except NotFound:
        return web.not_found(staff.user)
    headers = {**made.headers(), "Cache-Control": "no-store"}
    return Response(made.content, media_type=exports.MEDIA_TYPE, headers=headers)


@router.get("/{payout_text}")
async def payout_page(request: Request, payout_text: str, staff: StaffDep) -> Response:
    """One payout: its money, its state and every entry it took, with the totals per kind
    the statement prints. A manager's affiliates' payouts only; another is not found."""
    payout_id = web.url_id(payout_text)
    after = web.url_id(request.query_params.get("after")) or 0
    resources = web.state(request)
    try:
        if payout_id is None:
            raise NotFound("no such payout")
        payout = await service.get_payout(staff.pool, payout_id=payout_id, only_affiliate_id=None)
        if not staff.scope.allows(payout.affiliate_id):
            raise NotFound("no such payout")
        loaded = await statement.load(
            staff.pool,
            payout=payout,
            program_name=resources.settings.program_name,
            program_address=resources.settings.program_address,
            after=after,
            limit=LINES_SIZE + 1,  # one more tells that a next page has any
        )
    except NotFound:
        return web.not_found(staff.user)
    sums, lines = loaded.totals, loaded.lines[:LINES_SIZE]
    return web.render(
        "payout.html",
        {
            "user": staff.user,
            "nav": "payouts",
            "p": payout,
            "affiliate": loaded.affiliate,
            "lines": lines,
            "line_count": loaded.line_count,
            "after": after,
            "next_after": lines[-1]["id"] if len(loaded.lines) > LINES_SIZE else None,
            "totals": [(k, names[1], sums[k]) for k, names in statement.KIND_LABELS.items()],
            "total": sums["total"],
            "settled": payout.status in SETTLED,
            "notice": _notice(request.query_params.get("done")),
        },
    )


@router.post("/{payout_text}/paid")
async def mark_paid(request: Request, payout_text: str, staff: StaffDep) -> Response:
    """Mark paid with the payment's reference, by the API's own mark_paid."""
    return await _settle(request, payout_text, staff, "paid")


@router.post("/{payout_text}/failed")
async def mark_failed(request: Request, payout_text: str, staff: StaffDep) -> Response:
    """Mark failed with why, by the API's own mark_failed: the money is available again."""
    return await _settle(request, payout_text, staff, "failed")


async def _settle(request: Request, payout_text: str, staff: Staff, outcome: str) -> Response:
    owner_only(staff)
    form = await staff_form(request, staff)
    payout_id = web.url_id(payout_text)
    if payout_id is None:
        return web.not_found(staff.user)
    by = staff.user.actor
    try:
        if outcome == "paid":
            paid = PaidIn.model_validate({"reference": form.get("reference", "").strip()})
            await service.mark_paid(
                staff.pool, payout_id=payout_id, reference=paid.reference, by=by
            )
        else:
            failed = FailedIn.model_validate({"reason": form.get("reason", "").strip()})
            await service.mark_failed(staff.pool, payout_id=payout_id, reason=failed.reason, by=by)
    except ValidationError:
        return not_changed(staff, BAD_REFERENCE if outcome == "paid" else BAD_REASON, 400)
    except NotFound:
        return web.not_found(staff.user)
    except AppError as exc:
        return not_changed(staff, exc.message, exc.status)
    back = form.get("back", "")
    ours = back.startswith("/manage/payouts") and "//" not in back and "\\" not in back
    target = back if ours else f"/manage/payouts/{payout_id}"
    sep = "&" if "?" in target else "?"
    return web.see_other(f"{target}{sep}done={outcome}:{payout_id}")
