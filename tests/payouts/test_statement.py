"""The statement's table as a person reads it (pdftotext): every entry on its own line,
in order, across pages that each repeat the column titles; descriptions too long for
their column cut as fpdf2 measures them; the core font and a TrueType one."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from fpdf import FPDF
from hypothesis import given
from hypothesis import strategies as st

from app.money import format_money
from app.payouts import statement, statement_table
from app.payouts.schemas import PayoutOut

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
AT = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
KINDS = ("commission", "commission", "commission", "clawback", "bonus", "adjustment")


def _lines(count: int, offer: str = "Offer 3") -> list[dict[str, Any]]:
    lines = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        conversion = kind in ("commission", "clawback")
        lines.append(
            {
                "id": 100 + i,
                "kind": kind,
                "amount": Decimal(-310 if kind == "clawback" else 125 + 7 * i) / 100,
                "created_at": AT + dt.timedelta(hours=5 * i),
                "conversion_id": 5000 + i if conversion else None,
                "reverses": None,
                "reason": None if conversion else f"reason (#{i}) \\ paid",
                "txid": f"order-{i}" if conversion else None,
                "goal": "sale" if i % 4 == 0 and conversion else None,
                "received_at": AT if conversion else None,
                "offer_name": offer if conversion else None,
            }
        )
    return lines


def _statement(lines: list[dict[str, Any]], name: str = "Alice") -> statement.Statement:
    payout = PayoutOut(
        id=19,
        run_id=2,
        affiliate_id=7,
        currency="USD",
        amount=sum((line["amount"] for line in lines), Decimal(0)),
        status="paid",
        period_start=AT,
        period_end=AT + dt.timedelta(days=30),
        reference="REF-1",
        failure_reason=None,
        created_by="admin",
        created_at=AT,
        settled_at=AT,
        settled_by="admin",
    )
    sums = dict.fromkeys(statement.KIND_LABELS, Decimal(0))
    for line in lines:
        sums[line["kind"]] += line["amount"]
    sums["total"] = sum(sums.values(), Decimal(0))
    affiliate = {"id": 7, "name": name, "email": None, "company": None, "website": None}
    return statement.Statement(
        "Affiliate program",
        "1 Bench Street",
        cast(asyncpg.Record, {**affiliate, "country": None}),
        payout,
        cast(list[asyncpg.Record], lines),
        sums,
        len(lines),
    )


def _text(pdf: bytes, tmp_path: Path) -> tuple[str, int]:
    path = tmp_path / "statement.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["/usr/bin/pdftotext", "-layout", str(path), "-"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    info = subprocess.run(
        ["/usr/bin/pdfinfo", str(path)], capture_output=True, check=True, text=True
    ).stdout
    pages = re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)
    assert pages is not None
    return text, int(pages[1])


def _expected(line: dict[str, Any]) -> list[str]:
    """The row's cells as it reads."""
    return [
        f"{line['created_at']:%Y-%m-%d}",
        statement.KIND_LABELS[line["kind"]][0],
        statement._describe(cast(asyncpg.Record, line)),
        format_money(line["amount"]),
    ]


@pytest.mark.parametrize("name", ["Alice", "Алиса"])
def test_every_entry_is_a_line_in_order_on_pages_with_titles(tmp_path: Path, name: str) -> None:
    lines = _lines(260)
    text, pages = _text(statement.render(_statement(lines, name)), tmp_path)
    rows = [re.split(r"\s{2,}", row.strip()) for row in text.splitlines()]
    table = [row for row in rows if re.fullmatch(r"\d{4}-\d\d-\d\d", row[0])]
    assert table == [_expected(line) for line in lines]
    assert pages >= 5
    titles = [row for row in rows if row[:3] == ["Date", "Kind", "Description"]]
    assert titles == [["Date", "Kind", "Description", "Amount (USD)"]] * pages
    assert f"To: {name} (affiliate #7)" in text
    total = sum((line["amount"] for line in lines), Decimal(0))
    assert f"Total payable: {format_money(total)} USD" in text


def test_a_long_description_is_cut_with_an_ellipsis(tmp_path: Path) -> None:
    offer = "A very long offer name that goes on and on, " * 3
    lines = _lines(2, offer=offer)
    text, _ = _text(statement.render(_statement(lines)), tmp_path)
    row = next(r for r in text.splitlines() if "conversion #5000" in r)
    cells = re.split(r"\s{2,}", row.strip())
    assert cells[2].endswith("...")
    assert statement._describe(cast(asyncpg.Record, lines[0])).startswith(cells[2][:-3])
    assert cells[3] == format_money(lines[0]["amount"])


def _fpdf_fit(pdf: FPDF, value: str, room: float) -> str:
    """The cut as the statement made it with fpdf2's own measure (before its table was
    written directly): the longest prefix that fits with the ellipsis."""
    if pdf.get_string_width(value) <= room:
        return value
    while value and pdf.get_string_width(value + "...") > room:
        value = value[:-1]
    return value + "..."


@pytest.mark.parametrize("ttf", [False, True])
@given(value=st.text(st.characters(min_codepoint=32, max_codepoint=255), min_size=20, max_size=150))
def test_the_cut_is_fpdf2s(ttf: bool, value: str) -> None:
    pdf = FPDF(format="A4")
    if ttf:
        pdf.add_font("Statement", fname=str(DEJAVU))
    pdf.add_page()
    pdf.set_font("Statement" if ttf else "Helvetica", size=9)
    table = statement_table.Table(pdf, ("Date", "Kind", "Description", "Amount (USD)"))
    room = statement_table.WIDTHS[2] - 2 * pdf.c_margin
    assert table.fit(value) == _fpdf_fit(pdf, value, room)
