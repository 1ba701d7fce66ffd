"""A payout's self-billing statement as a PDF (fpdf2): who pays whom, the period, every
entry the payout took (conversions, clawbacks, bonuses, adjustments) and the totals.

Text goes in a Unicode TrueType font when one is found (STATEMENT_FONT, else DejaVu Sans
where Debian puts it); without one, the PDF core font, which holds Latin-1 only, and any
other character prints as "?".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import asyncpg
from fpdf import FPDF

from app.db import Executor
from app.errors import NotFound
from app.money import format_money
from app.payouts import queries
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


async def load(
    conn: Executor, *, payout: PayoutOut, program_name: str, program_address: str
) -> Statement:
    affiliate = await conn.fetchrow(queries.STATEMENT_AFFILIATE, payout.affiliate_id)
    if affiliate is None:
        raise NotFound(f"affiliate {payout.affiliate_id} does not exist")
    lines = await conn.fetch(queries.STATEMENT_LINES, payout.id)
    return Statement(program_name, program_address, affiliate, payout, lines)


def totals(lines: Sequence[asyncpg.Record]) -> dict[str, Decimal]:
    """Per kind, and the total (which is the payout's amount)."""
    sums = dict.fromkeys(KIND_LABELS, Decimal(0))
    for line in lines:
        sums[line["kind"]] += line["amount"]
    sums["total"] = sum((line["amount"] for line in lines), Decimal(0))
    return sums


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


def render(statement: Statement, *, font_path: str | None = None) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    font = _font(font_path)
    family = "Helvetica"
    if font is not None:
        pdf.add_font("Statement", fname=str(font))
        # Table headings are bold: DejaVu's bold face beside it, else the same face.
        bold = font.with_name(font.stem + "-Bold" + font.suffix)
        pdf.add_font("Statement", style="B", fname=str(bold if bold.is_file() else font))
        family = "Statement"

    def text(value: str) -> str:
        return value if font is not None else value.encode("latin-1", "replace").decode("latin-1")

    payout, currency = statement.payout, statement.payout.currency
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text("Self-billing statement"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    pdf.multi_cell(0, 5, text(f"From: {statement.program_name}\n{statement.program_address}"))
    pdf.ln(2)
    affiliate = statement.affiliate
    to = f"To: {affiliate['name']} (affiliate #{affiliate['id']})"
    if affiliate["email"]:
        to += f"\n{affiliate['email']}"
    pdf.multi_cell(0, 5, text(to))
    pdf.ln(2)
    pdf.multi_cell(
        0,
        5,
        text(
            f"Payout #{payout.id}, {payout.status}, {currency}\n"
            f"Period: {payout.period_start:%Y-%m-%d} to {payout.period_end:%Y-%m-%d}"
            + (f"\nReference: {payout.reference}" if payout.reference else "")
        ),
    )
    pdf.ln(4)
    widths = (28, 26, 106, 30)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "LEFT", "RIGHT")) as table:
        table.row(["Date", "Kind", "Description", f"Amount ({currency})"])
        for line in statement.lines:
            table.row(
                [
                    f"{line['created_at']:%Y-%m-%d}",
                    KIND_LABELS[line["kind"]][0],
                    text(_describe(line)),
                    format_money(line["amount"]),
                ]
            )
    pdf.ln(4)
    sums = totals(statement.lines)
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
