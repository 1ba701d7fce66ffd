"""Announcement bodies: Markdown to safe HTML, and to plain text.

markdown-it-py renders CommonMark (raw HTML passed through) with its own link check (no
`javascript:`, `vbscript:`, `file:` or non-image `data:` URLs); nh3 (the Ammonia
sanitizer) then keeps only the tags and attributes listed here and http, https and mailto
links: other tags go (their text stays; `script` and `style` go with their content), as
do event handlers, styles and every other attribute. The plain text leaves raw HTML out.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")

TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto"}


def to_html(source: str) -> str:
    rendered = _md.render(source)
    return nh3.clean(
        rendered,
        tags=TAGS,
        attributes=ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def _inline(children: list[Token]) -> str:
    out: list[str] = []
    href: list[str] = []
    hidden = ""  # inside a raw <script> or <style>: its closing tag
    for t in children:
        if hidden:
            if t.type == "html_inline" and t.content.lower().startswith(hidden):
                hidden = ""
            continue
        if t.type == "html_inline":
            tag = t.content.lower()
            hidden = next((f"</{n}" for n in ("script", "style") if tag.startswith(f"<{n}")), "")
        elif t.type in ("text", "code_inline"):
            out.append(t.content)
        elif t.type in ("softbreak", "hardbreak"):
            out.append("\n")
        elif t.type == "link_open":
            href.append(str(t.attrGet("href") or ""))
            out.append("\x00")  # where the link text starts
        elif t.type == "link_close":
            url = href.pop() if href else ""
            start = len(out) - 1 - out[::-1].index("\x00")
            label = "".join(out[start + 1 :])
            out[start:] = [label if not url or url == label else f"{label} ({url})"]
        elif t.type == "image":
            out.append(t.content)
    return "".join(out)


def to_text(source: str) -> str:
    """Readable plain text: paragraphs, list items with "- " or "1. ", links as
    `label (url)`, code as it is."""
    blocks: list[str] = []
    prefix: list[str] = []
    counters: list[int] = []
    for t in _md.parse(source):
        if t.type == "bullet_list_open":
            counters.append(0)
        elif t.type == "ordered_list_open":
            counters.append(int(t.attrGet("start") or 1))
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            counters.pop()
        elif t.type == "list_item_open":
            if counters and counters[-1]:
                prefix.append(f"{counters[-1]}. ")
                counters[-1] += 1
            else:
                prefix.append("- ")
        elif t.type == "list_item_close":
            prefix.pop()
        elif t.type == "inline":
            indent = "  " * max(0, len(prefix) - 1)
            blocks.append(indent + "".join(prefix[-1:]) + _inline(t.children or []))
        elif t.type in ("fence", "code_block"):
            blocks.append(t.content.rstrip("\n"))
        elif t.type == "hr":
            blocks.append("----")
    return "\n\n".join(b for b in blocks if b.strip()) + "\n"
