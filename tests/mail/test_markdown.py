"""Announcement Markdown as plain text."""

from __future__ import annotations

from app.mail import markdown


def test_plain_text() -> None:
    source = "# Title\n\nSee [the docs](https://d.example/x) and <b>this</b>.\n\n- one\n- two\n"
    assert markdown.to_text(source) == (
        "Title\n\nSee the docs (https://d.example/x) and this.\n\n- one\n\n- two\n"
    )


def test_ordered_lists_and_code() -> None:
    source = "3. c\n4. d\n\n```\nx = 1\n```\n"
    assert markdown.to_text(source) == "3. c\n\n4. d\n\nx = 1\n"


def test_html_keeps_allowed_tags_only() -> None:
    html = markdown.to_html("**b** _i_ `c`\n\n> q\n\n<table><tr><td onclick=x>1</td></tr></table>")
    assert "<strong>b</strong>" in html
    assert "<em>i</em>" in html
    assert "<code>c</code>" in html
    assert "<blockquote>" in html
    assert "onclick" not in html


def test_raw_script_and_style_leave_nothing_in_the_text() -> None:
    source = "a <script>alert(1)</script> b <STYLE>x{}</STYLE> c <em>d</em>\n"
    assert markdown.to_text(source) == "a  b  c d\n"
