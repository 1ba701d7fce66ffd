"""Every kind renders a subject, a text and an HTML part, values escaped in the HTML."""

from __future__ import annotations

import pytest

from app.mail import templates

CONTEXT = templates.Context(
    program_name="Prog <b>",
    program_address="1 Main St",
    public_url="http://tracker.test",
    recipient_name="<script>x</script>",
)


@pytest.mark.parametrize("kind", sorted(templates.TEMPLATES))
def test_every_kind_renders_escaped(kind: str) -> None:
    data = {
        "reason": "<img src=x onerror=y>",
        "offer_id": 3,
        "offer_name": "<i>Shoes</i>",
        "amount": "1.00",
        "currency": "USD",
        "metric": "clicks",
        "period": "day",
        "url": "https://h.example/<x>",
        "name": "<b>n</b>",
        "email": "a@b.example",
        "from_name": "<u>",
        "to_name": "Gold",
        "day": "2026-12-01",
        "conversions": 2,
        "payout": {"USD": "5.00"},
    }
    rendered = templates.render(kind, data, CONTEXT)
    assert rendered.subject
    assert "\n" not in rendered.subject
    assert "1 Main St" in rendered.text
    assert "1 Main St" in rendered.html
    for raw in ("<script>", "<img", "<i>", "<b>", "<u>", "<x>"):
        assert raw not in rendered.html.replace("<body", "").replace("<br>", ""), raw
    assert "&lt;script&gt;" in rendered.html


def test_kinds_are_all_known() -> None:
    assert set(templates.TEMPLATES) | {"announcement"} == (
        templates.AFFILIATE_KINDS | templates.OWNER_KINDS | templates.USER_KINDS
    )
    assert set(templates.LISTS.values()) == {"announcements", "digest", "offer_changes"}


def test_a_list_mail_carries_its_unsubscribe_link() -> None:
    context = templates.Context(
        program_name="P",
        program_address="A",
        public_url="http://t",
        recipient_name=None,
        unsubscribe_url="http://t/unsubscribe/abc",
    )
    rendered = templates.render("offer_paused", {"offer_id": 1}, context)
    assert "Unsubscribe: http://t/unsubscribe/abc" in rendered.text
    assert '<a href="http://t/unsubscribe/abc">Unsubscribe</a>' in rendered.html
