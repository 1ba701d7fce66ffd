"""The entries' table of a payout's statement (app/payouts/statement.py), written into
each page's content directly rather than by fpdf2's cell()."""

from __future__ import annotations

from collections.abc import Callable, Container

from fpdf import FPDF
from fpdf.fonts import CoreFont, TTFFont

WIDTHS = (24, 24, 112, 30)  # mm: date, kind, description, amount
ROW = 5  # mm a table row


class Table:
    """The entries' table, its column titles on every page. fpdf2's cell() costs tens of
    microseconds a cell (text shaping, style preloading, graphics-state copies: 84 % of
    a 14,684-entry statement's 3.6 s), so a page's rows are written into its content as
    text operators, a text object a column, each line where cell() would put it: after
    the cell margin, on the baseline at half the row plus 0.3 of the font size, the
    amount right-aligned, a description too long for its column cut with an ellipsis."""

    def __init__(self, pdf: FPDF, titles: tuple[str, ...]) -> None:
        font = pdf.current_font
        assert font is not None
        self.pdf, self.titles, self.font, self.size = pdf, titles, font, pdf.font_size_pt
        k = pdf.k
        self.width = glyph_widths(font)
        self.per_unit = self.size * 0.001 / k  # mm per unit of the font's widths
        lefts = [pdf.l_margin + sum(WIDTHS[:i]) for i in range(len(WIDTHS))]
        self.lefts = lefts
        self.right = lefts[3] + WIDTHS[3] - pdf.c_margin
        self.room = (WIDTHS[2] - 2 * pdf.c_margin) / self.per_unit  # in font units
        self.ellipsis = self.width("...")
        self.leading = f"{ROW * k:.2f}"
        self.shown: dict[str, str] = {}  # text -> its operand, of the texts that repeat
        self.amounts: dict[str, tuple[float, str]] = {}
        self.page: list[tuple[str, str, str, str]] = []
        self._titles()

    def _show(self, value: str) -> str:
        """The text as a string operand in the font's encoding (a TrueType font's glyph
        IDs, which also puts its glyphs into the subset)."""
        operand = self.font.encode_text(value)
        return operand[: -len("Tj")]

    def _titles(self) -> None:
        pdf, c, k = self.pdf, self.pdf.c_margin, self.pdf.k
        top = pdf.y
        base = top + 0.5 * 6 + 0.3 * self.size / k
        for left, title in zip(self.lefts[:3], self.titles, strict=False):
            pdf.text(left + c, base, title)
        right = self.right - self.width(self.titles[3]) * self.per_unit
        pdf.text(right, base, self.titles[3])
        pdf.line(pdf.l_margin, top + 6, pdf.l_margin + sum(WIDTHS), top + 6)
        self.top = top + 6
        self.y = self.top

    def fit(self, value: str) -> str:
        """The text cut (with an ellipsis) to fit the description column."""
        if self.width(value) <= self.room:
            return value
        room = self.room - self.ellipsis
        for end, char in enumerate(value):
            room -= self.width(char)
            if room < 0:
                return value[:end] + "..."
        return value

    def row(self, date: str, kind: str, description: str, amount: str) -> None:
        if self.y + ROW > self.pdf.page_break_trigger:
            self._flush()
            self.pdf.add_page()
            self._titles()
        shown = self.shown
        self.page.append(
            (
                shown.get(date) or shown.setdefault(date, self._show(date)),
                shown.get(kind) or shown.setdefault(kind, self._show(kind)),
                self._show(self.fit(description)),
                amount,
            )
        )
        self.y += ROW

    def _flush(self) -> None:
        if not self.page:
            return
        pdf, k = self.pdf, self.pdf.k
        first = (pdf.h - self.top - 0.5 * ROW - 0.3 * self.size / k) * k
        starts = [f"{(left + pdf.c_margin) * k:.2f} {first:.2f} Td" for left in self.lefts]
        # (A text object starts at the page's origin; the font and leading hold on.)
        parts = [f"BT /F{self.font.i} {self.size:.2f} Tf {self.leading} TL ET"]
        for column in range(3):
            operands = [row[column] for row in self.page]
            parts.append(f"BT {starts[column]} {operands[0]}Tj")
            parts.extend(f"{operand}'" for operand in operands[1:])
            parts.append("ET")
        # The amounts right-aligned: each line's start moved from the one before.
        parts.append("BT")
        before = None
        for row in self.page:
            width, operand = self._amount(row[3])
            x = round((self.right - width * self.per_unit) * k, 2)
            if before is None:
                parts.append(f"{x:.2f} {first:.2f} Td {operand}Tj")
            else:
                parts.append(f"{x - before:.2f} -{self.leading} Td {operand}Tj")
            before = x
        parts.append("ET")
        pdf._out("\n".join(parts))
        self.page = []

    def _amount(self, amount: str) -> tuple[float, str]:
        known = self.amounts.get(amount)
        if known is None:
            known = self.amounts[amount] = (self.width(amount), self._show(amount))
        return known

    def end(self) -> None:
        self._flush()
        self.pdf.set_xy(self.pdf.l_margin, self.y)


def glyph_widths(font: CoreFont | TTFFont) -> Callable[[str], float]:
    """A text's width in the font's units (1/1000 of its size), as fpdf2 measures it
    unshaped: the sum of its characters' widths. For a core font (Latin-1), by two
    byte translations (the widths' high and low bytes) summed in C: half the time of a
    sum over the characters, which tens of thousands of descriptions spend."""
    if isinstance(font, TTFFont):
        glyph_widths = font.cw
        return lambda value: sum(map(glyph_widths.__getitem__, map(ord, value)))
    widths: dict[str, int] = font.cw
    high = bytes(widths[chr(i)] >> 8 for i in range(256))
    low = bytes(widths[chr(i)] & 0xFF for i in range(256))

    def width(value: str) -> float:
        latin1 = value.encode("latin-1")
        return (sum(latin1.translate(high)) << 8) + sum(latin1.translate(low))

    return width


class Replacements(dict[int, int]):
    """str.translate's table: a character the font has no glyph for becomes "?"."""

    def __init__(self, glyphs: Container[int]) -> None:
        super().__init__()
        self.glyphs = glyphs

    def __missing__(self, char: int) -> int:
        self[char] = replaced = char if char in self.glyphs else ord("?")
        return replaced


def fits_latin1(texts: list[str]) -> bool:
    try:
        "".join(texts).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True
