"""Each kind of mail as a subject, a plain-text and an HTML part.

Rendered when the sender sends a row (from the row's `data`, so a template fixed later
applies to mail still waiting). Every value is escaped in the HTML part; every message
ends with the program's name and postal address, and mail of an opt-in list with its
unsubscribe link.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Kinds an affiliate always gets (they concern its own account or money).
TRANSACTIONAL = frozenset(
    {"application_received", "approved", "rejected", "group_changed", "payout_paid"}
)
# Kinds an affiliate gets only while it is on the list (mail_preferences column).
LISTS: dict[str, str] = {
    "announcement": "announcements",
    "digest": "digest",
    "offer_paused": "offer_changes",
    "offer_capped": "offer_changes",
}
OWNER_KINDS = frozenset({"new_application", "webhook_disabled"})
# Kinds to a portal user (app/accounts): their single-use links.
USER_KINDS = frozenset({"user_invite", "password_reset"})
AFFILIATE_KINDS = TRANSACTIONAL | frozenset(LISTS)


@dataclass(frozen=True, slots=True)
class Context:
    program_name: str
    program_address: str | None
    public_url: str
    recipient_name: str | None
    unsubscribe_url: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


# A body: paragraphs of plain text (each escaped for HTML), or with "html" a ready part.
Body = tuple[str, list[str]]


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _money(data: Mapping[str, Any]) -> str:
    return f"{data.get('amount', '')} {data.get('currency', '')}".strip()


def _application_received(d: Mapping[str, Any], c: Context) -> Body:
    return f"We received your application to {c.program_name}", [
        "Thank you for applying. We will look at your application and write to you "
        "again when it is decided."
    ]


def _approved(d: Mapping[str, Any], c: Context) -> Body:
    return f"Welcome to {c.program_name}: your application is approved", [
        "Your application is approved: your account is active, and your tracking links "
        "now send visitors to the offers.",
        *([f"Note: {d['reason']}"] if d.get("reason") else []),
    ]


def _rejected(d: Mapping[str, Any], c: Context) -> Body:
    return f"Your application to {c.program_name}", [
        "We are sorry: your application was not accepted.",
        *([f"Reason: {d['reason']}"] if d.get("reason") else []),
    ]


def _group_changed(d: Mapping[str, Any], c: Context) -> Body:
    before, after = d.get("from_name") or "none", d.get("to_name") or "none"
    return "Your commission group changed", [
        f"Your commission group changed from {before} to {after}.",
        "Your commissions on new conversions follow the terms of the new group.",
    ]


def _payout_paid(d: Mapping[str, Any], c: Context) -> Body:
    lines = [f"We sent you a payout of {_money(d)}."]
    if d.get("reference"):
        lines.append(f"Reference: {d['reference']}")
    return f"Payout sent: {_money(d)}", lines


def _offer_paused(d: Mapping[str, Any], c: Context) -> Body:
    name = d.get("offer_name") or f"offer {d.get('offer_id')}"
    return f"Offer paused: {name}", [
        f"The offer {name} (ID {d.get('offer_id')}) is paused. Your links to it send "
        "visitors to its fallback page until it is active again."
    ]


def _offer_capped(d: Mapping[str, Any], c: Context) -> Body:
    name = d.get("offer_name") or f"offer {d.get('offer_id')}"
    period = "today" if d.get("period") == "day" else "this month"
    return f"Offer capped: {name}", [
        f"The offer {name} (ID {d.get('offer_id')}) reached its {d.get('metric')} cap "
        f"{period}. Further {d.get('metric')} are not counted until the cap resets."
    ]


def _digest(d: Mapping[str, Any], c: Context) -> Body:
    payout = d.get("payout") or {}
    money = ", ".join(f"{amount} {currency}" for currency, amount in sorted(payout.items()))
    return f"Your approved conversions on {d.get('day')}", [
        f"Approved conversions on {d.get('day')} (UTC): {d.get('conversions')}.",
        f"Payout: {money or '0'}.",
    ]


def _new_application(d: Mapping[str, Any], c: Context) -> Body:
    return f"New application: {d.get('name')}", [
        f"{d.get('name')} <{d.get('email')}> applied (affiliate {d.get('affiliate_id')}).",
        *([f"Website: {d['website']}"] if d.get("website") else []),
        f"Review it: {c.public_url}/api/v1/affiliates/{d.get('affiliate_id')}",
    ]


def _webhook_disabled(d: Mapping[str, Any], c: Context) -> Body:
    return f"Webhook disabled: {d.get('url')}", [
        f"The webhook {d.get('webhook_id')} ({d.get('url')}) was disabled: "
        f"{d.get('reason') or 'every delivery failed'}.",
        "Fix the receiver, then enable it again with PATCH /api/v1/webhooks/"
        f'{d.get("webhook_id")} {{"status": "enabled"}}.',
    ]


def _user_invite(d: Mapping[str, Any], c: Context) -> Body:
    return f"Your account at {c.program_name}", [
        f"You are invited to the {c.program_name} portal. Choose your password here "
        f"(the link works once, until {d.get('expires_at')} UTC):",
        f"{c.public_url}{d.get('path')}",
    ]


def _password_reset(d: Mapping[str, Any], c: Context) -> Body:
    return f"Reset your {c.program_name} password", [
        "Someone (we hope you) asked to reset your password. Choose a new one here (the "
        f"link works once, until {d.get('expires_at')} UTC):",
        f"{c.public_url}{d.get('path')}",
        "If you did not ask for this, ignore this message: your password stays as it is.",
    ]


TEMPLATES: dict[str, Callable[[Mapping[str, Any], Context], Body]] = {
    "application_received": _application_received,
    "approved": _approved,
    "rejected": _rejected,
    "group_changed": _group_changed,
    "payout_paid": _payout_paid,
    "offer_paused": _offer_paused,
    "offer_capped": _offer_capped,
    "digest": _digest,
    "new_application": _new_application,
    "webhook_disabled": _webhook_disabled,
    "user_invite": _user_invite,
    "password_reset": _password_reset,
}


def _footer(c: Context) -> tuple[str, str]:
    lines = [c.program_name, *([c.program_address] if c.program_address else [])]
    text = "\n".join(lines)
    page = "<br>".join(_e(line) for line in lines)
    if c.unsubscribe_url:
        text += f"\n\nUnsubscribe: {c.unsubscribe_url}"
        page += f'<br><br><a href="{_e(c.unsubscribe_url)}">Unsubscribe</a>'
    return text, page


def _wrap(subject: str, body_html: str, footer_html: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{_e(subject)}</title></head>"
        '<body style="font-family:sans-serif;line-height:1.5;max-width:40em">'
        f'{body_html}<hr><p style="color:#666;font-size:90%">{footer_html}</p></body></html>'
    )


def render(kind: str, data: Mapping[str, Any], context: Context) -> Rendered:
    subject, paragraphs = TEMPLATES[kind](data, context)
    greeting = f"Hello {context.recipient_name}," if context.recipient_name else "Hello,"
    footer_text, footer_html = _footer(context)
    text = "\n\n".join([greeting, *paragraphs]) + "\n\n-- \n" + footer_text + "\n"
    body = "".join(f"<p>{_e(p)}</p>" for p in [greeting, *paragraphs])
    return Rendered(subject, text, _wrap(subject, body, footer_html))


def render_announcement(
    *, subject: str, body_text: str, body_html: str, context: Context
) -> Rendered:
    """An announcement: its own parts (body_html is sanitized already), with the footer."""
    footer_text, footer_html = _footer(context)
    text = body_text.rstrip("\n") + "\n\n-- \n" + footer_text + "\n"
    return Rendered(subject, text, _wrap(subject, body_html, footer_html))
