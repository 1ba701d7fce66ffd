"""A payout's self-billing statement as a PDF (fpdf2): who pays whom, the period, every
entry the payout took (conversions, clawbacks, bonuses, adjustments) and the totals.

Text that Latin-1 holds goes in the PDF core font; other text in a Unicode TrueType font
when one is found (STATEMENT_FONT, else DejaVu Sans where Debian puts it), and without
one any character beyond Latin-1 prints as "?".
"""

from __future__ import annotations

import asyncio
from collections.abc import Container, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import asyncpg
from fpdf import FPDF
from fpdf.fonts import TTFFont

from app.db import Executor
from app.errors import NotFound
from app.money import format_money
from app.payouts import queries, service
from app.payouts.schemas import PayoutOut

FONT_PATHS = (Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),)
KIND_LABELS = {
    "commission": ("Commission", "Commissions"),
    "clawback": ("Clawback", "Clawbacks"),
    "bonus": ("Bonus", "Bonuses"),
    "adjustment": ("Adjustment", "Adjustments"),
}


@dataclass(frozen=True, slots=True)
class Statement:
    program_name: str
    program_address: str
    affiliate: asyncpg.Record
    payout: PayoutOut
    lines: Sequence[asyncpg.Record]
    # Per kind over every entry, and the total (which is the payout's amount).
    totals: dict[str, Decimal]
    line_count: int


async def load(
    conn: Executor,
    *,
    payout: PayoutOut,
    program_name: str,
    program_address: str,
    limit: int | None = None,
) -> Statement:
    """The statement with its first `limit` lines (None: every one; the statement prints
    every one), its totals always over all of them."""
    affiliate = await conn.fetchrow(queries.STATEMENT_AFFILIATE, payout.affiliate_id)
    if affiliate is None:
        raise NotFound(f"affiliate {payout.affiliate_id} does not exist")
    lines = await conn.fetch(queries.STATEMENT_LINES, payout.id, limit)
    sums = dict.fromkeys(KIND_LABELS, Decimal(0))
    count = 0
    for row in await conn.fetch(queries.STATEMENT_TOTALS, payout.id):
        sums[row["kind"]] = row["amount"]
        count += row["entries"]
    sums["total"] = sum(sums.values(), Decimal(0))
    return Statement(program_name, program_address, affiliate, payout, lines, sums, count)


async def pdf(
    conn: Executor,
    *,
    payout_id: int,
    only_affiliate_id: int | None,
    program_name: str,
    program_address: str,
    font_path: str | None,
) -> bytes:
    """The payout's statement as the API and the portal give it (another affiliate's
    payout, like an unknown one, is NotFound)."""
    payout = await service.get_payout(
        conn, payout_id=payout_id, only_affiliate_id=only_affiliate_id
    )
    loaded = await load(
        conn, payout=payout, program_name=program_name, program_address=program_address
    )
    # fpdf2 is synchronous: a long statement must not hold up the event loop.
    return await asyncio.to_thread(render, loaded, font_path=font_path)


@lru_cache(maxsize=4)
def _font(configured: str | None) -> Path | None:
    candidates = (Path(configured),) if configured else FONT_PATHS
    return next((p for p in candidates if p.is_file()), None)


def _describe(line: asyncpg.Record) -> str:
    if line["kind"] in ("commission", "clawback"):
        text = f"conversion #{line['conversion_id']} of {line['received_at']:%Y-%m-%d}"
        if line["offer_name"]:
            text += f", {line['offer_name']}"
        if line["goal"]:
            text += f" ({line['goal']})"
        if line["txid"]:
            text += f", order {line['txid']}"
        return text
    return str(line["reason"] or "")


def _fit(pdf: FPDF, value: str, width: float) -> str:
    """The text cut (with an ellipsis) to fit a column: one line per entry."""
    if pdf.get_string_width(value) <= width - 2:
        return value
    while value and pdf.get_string_width(value + "...") > width - 2:
        value = value[:-1]
    return value + "..."


def render(statement: Statement, *, font_path: str | None = None) -> bytes:
    """Plain cells, not fpdf2's table (five times slower), and the PDF core font unless
    some text needs more than Latin-1 (embedding a TrueType subset costs ~100 ms)."""
    payout, currency, affiliate = statement.payout, statement.payout.currency, statement.affiliate
    header = [
        "Self-billing statement",
        f"From: {statement.program_name}",
        *statement.program_address.splitlines(),
        f"To: {affiliate['name']} (affiliate #{affiliate['id']})",
        # The payee as its profile names it (company, country, website, e-mail).
        *[str(affiliate[k]) for k in ("company", "country", "website", "email") if affiliate[k]],
        f"Payout #{payout.id}, {payout.status}, {currency}",
        f"Period: {payout.period_start:%Y-%m-%d} to {payout.period_end:%Y-%m-%d}",
        *([f"Reference: {payout.reference}"] if payout.reference else []),
    ]
    descriptions = [_describe(line) for line in statement.lines]
    pdf = FPDF(format="A4")
    # Dated by the payout, not by the moment it is drawn: one payout, one document.
    pdf.set_creation_date(payout.settled_at or payout.created_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    family = "Helvetica"
    glyphs: Container[int] | None = None  # of the TrueType font, when one is used
    font = None if _latin1(header + descriptions) else _font(font_path)
    if font is not None:
        pdf.add_font("Statement", fname=str(font))
        family = "Statement"
        added = pdf.fonts["statement"]
        assert isinstance(added, TTFFont)
        glyphs = added.cmap

    def text(value: str) -> str:
        if glyphs is None:
            return value.encode("latin-1", "replace").decode("latin-1")
        # A character the font has no glyph for prints as "?" (not as nothing).
        return "".join(c if ord(c) in glyphs else "?" for c in value)

    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(header[0]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    for i, line_text in enumerate(header[1:], start=1):
        if line_text.startswith(("To: ", "Payout #")) and i > 1:
            pdf.ln(2)
        pdf.cell(0, 5, text(line_text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (24, 24, 112, 30)
    pdf.set_font(family, size=9)
    for width, title, align in zip(
        widths, ("Date", "Kind", "Description", f"Amount ({currency})"), "LLLR", strict=True
    ):
        pdf.cell(width, 6, title, border="B", align=align)
    pdf.ln(6)
    for line, description in zip(statement.lines, descriptions, strict=True):
        pdf.cell(widths[0], 5, f"{line['created_at']:%Y-%m-%d}")
        pdf.cell(widths[1], 5, KIND_LABELS[line["kind"]][0])
        pdf.cell(widths[2], 5, _fit(pdf, text(description), widths[2]))
        pdf.cell(
            widths[3], 5, format_money(line["amount"]), align="R", new_x="LMARGIN", new_y="NEXT"
        )
    pdf.ln(4)
    pdf.set_font(family, size=10)
    sums = statement.totals
    for kind, (_, label) in KIND_LABELS.items():
        pdf.cell(
            0, 6, f"{label}: {format_money(sums[kind])} {currency}", new_x="LMARGIN", new_y="NEXT"
        )
    pdf.set_font(family, size=12)
    pdf.cell(
        0,
        8,
        f"Total payable: {format_money(sums['total'])} {currency}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def _latin1(texts: list[str]) -> bool:
    try:
        "".join(texts).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
