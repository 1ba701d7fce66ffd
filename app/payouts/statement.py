"""A payout's self-billing statement as a PDF (fpdf2): who pays whom, the period, every
entry the payout took (conversions, clawbacks, bonuses, adjustments) and the totals.

Text that Latin-1 holds goes in the PDF core font; other text in a Unicode TrueType font
when one is found (STATEMENT_FONT, else DejaVu Sans where Debian puts it), and without
one any character beyond Latin-1 prints as "?".
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Container, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import asyncpg
from fpdf import FPDF
from fpdf import __version__ as fpdf_version
from fpdf.fonts import TTFFont
from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.db import Executor
from app.errors import NotFound
from app.money import format_money
from app.payouts import queries, service
from app.payouts.schemas import PayoutOut
from app.payouts.statement_table import Replacements, Table, fits_latin1

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
    after: int = 0,
    limit: int | None = None,
) -> Statement:
    """The statement with its lines after the entry `after`, the first `limit` of them
    (None: every one; the statement prints every one), its totals always over all of them
    (kept per payout: a payout's entries never change)."""
    affiliate, totals, count = await _head(conn, payout)
    lines = await conn.fetch(queries.STATEMENT_LINES, payout.id, limit, after)
    return Statement(program_name, program_address, affiliate, payout, lines, totals, count)


async def _head(
    conn: Executor, payout: PayoutOut
) -> tuple[asyncpg.Record, dict[str, Decimal], int]:
    affiliate = await conn.fetchrow(queries.STATEMENT_AFFILIATE, payout.affiliate_id)
    if affiliate is None:
        raise NotFound(f"affiliate {payout.affiliate_id} does not exist")
    sums = dict.fromkeys(KIND_LABELS, Decimal(0))
    count = 0
    for row in await conn.fetch(queries.STATEMENT_TOTALS, payout.id):
        sums[row["kind"]] = row["amount"]
        count += row["entries"]
    sums["total"] = sum(sums.values(), Decimal(0))
    return affiliate, sums, count


async def pdf(
    conn: Executor,
    *,
    payout_id: int,
    only_affiliate_id: int | None,
    program_name: str,
    program_address: str,
    font_path: str | None,
    redis: Redis | None = None,
) -> bytes:
    """The payout's statement as the API and the portal give it (another affiliate's
    payout, like an unknown one, is NotFound). With `redis`, a statement of many entries
    is drawn once and its bytes kept (`_Kept`) for as long as nothing it prints changes."""
    payout = await service.get_payout(
        conn, payout_id=payout_id, only_affiliate_id=only_affiliate_id
    )
    affiliate, totals, count = await _head(conn, payout)
    kept = None
    if redis is not None and count >= KEPT_FROM_LINES:
        version = await conn.fetchval(queries.STATEMENT_VERSION, payout.affiliate_id)
        kept = _Kept(
            redis,
            payout,
            [dict(affiliate), program_name, program_address, str(_font(font_path)), version],
        )
        document = await kept.read(conn)
        if document is not None:
            return document
    # (Read after the version: a conversion changed meanwhile makes the kept copy stale.)
    lines = await conn.fetch(queries.STATEMENT_LINES, payout.id, None, 0)
    loaded = Statement(program_name, program_address, affiliate, payout, lines, totals, count)
    # fpdf2 is synchronous: a long statement must not hold up the event loop.
    document = await asyncio.to_thread(render, loaded, font_path=font_path)
    if kept is not None:
        offers = {line["offer_id"]: line["offer_name"] for line in lines if line["offer_id"]}
        await kept.write(offers, document)
    return document


# A statement of this many entries or more is kept once drawn: reading its conversions
# is most of its cost (the busiest affiliate's 14,684: 0.3-0.7 s on a loaded machine,
# a median one's 936: 80-230 ms), and a kept one is a few kilobytes or more in Redis.
KEPT_FROM_LINES = 100
KEPT_SECONDS = 24 * 3600
# Bumped when render() draws differently: a copy drawn by other code is not served.
DRAWING = 2


class _Kept:
    """A drawn statement's bytes in Redis under the payout, with a digest of everything
    it was drawn from that can change. Its entries cannot (ledger entries and a payout's
    claim never change), nor their conversions' date, goal and offer but by an UPDATE
    or DELETE that `statement_versions` counts (migration 0075); what else it prints is
    in the digest itself: the payout (status, reference, settlement), the affiliate's
    profile, the program's name and address, the font, that version, and the names of
    the offers it names (read again, by ID, to check a kept copy). Redis unreachable: no
    copy, the statement is drawn."""

    def __init__(self, redis: Redis, payout: PayoutOut, drawn_from: list[object]) -> None:
        self.redis, self.key = redis, f"statement:{payout.id}"
        self.drawn_from = [DRAWING, fpdf_version, payout.model_dump(mode="json"), *drawn_from]

    def _digest(self, offers: dict[int, str]) -> bytes:
        facts = [*self.drawn_from, sorted(offers.items())]
        return hashlib.sha256(json.dumps(facts, default=str).encode()).digest()

    async def read(self, conn: Executor) -> bytes | None:
        try:
            stored = await self.redis.get(self.key)
        except RedisError:
            return None
        if not isinstance(stored, bytes):
            return None
        digest, size = stored[:32], int.from_bytes(stored[32:36])
        offer_ids = json.loads(stored[36 : 36 + size])
        rows = await conn.fetch(queries.OFFER_NAMES, offer_ids)
        if self._digest({r["id"]: r["name"] for r in rows}) != digest:
            return None
        return bytes(stored[36 + size :])

    async def write(self, offers: dict[int, str], document: bytes) -> None:
        ids = json.dumps(sorted(offers)).encode()
        stored = self._digest(offers) + len(ids).to_bytes(4) + ids + document
        with contextlib.suppress(RedisError):
            await self.redis.set(self.key, stored, ex=KEPT_SECONDS)


@lru_cache(maxsize=4)
def _font(configured: str | None) -> Path | None:
    candidates = (Path(configured),) if configured else FONT_PATHS
    return next((p for p in candidates if p.is_file()), None)


def _describe(line: asyncpg.Record) -> str:
    if line["kind"] in ("commission", "clawback"):
        text = f"conversion #{line['conversion_id']} of {line['received_at'].date()}"
        if line["offer_name"]:
            text += f", {line['offer_name']}"
        if line["goal"]:
            text += f" ({line['goal']})"
        if line["txid"]:
            text += f", order {line['txid']}"
        return text
    return str(line["reason"] or "")


def render(statement: Statement, *, font_path: str | None = None) -> bytes:
    """The PDF core font unless some text needs more than Latin-1 (embedding a TrueType
    subset costs ~100 ms); the table's rows are written by `Table`, not by cell()."""
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
    latin1 = fits_latin1(header + descriptions)
    font = None if latin1 else _font(font_path)
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
        return value.translate(replacements)

    replacements = Replacements(glyphs or ())
    pdf.add_page()
    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(header[0]), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, size=10)
    for i, line_text in enumerate(header[1:], start=1):
        if line_text.startswith(("To: ", "Payout #")) and i > 1:
            pdf.ln(2)
        pdf.cell(0, 5, text(line_text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, size=9)
    table = Table(pdf, ("Date", "Kind", "Description", f"Amount ({currency})"))
    # Days and amounts repeat: each is written once.
    days: dict[dt.date, str] = {}
    amounts: dict[Decimal, str] = {}
    for line, description in zip(statement.lines, descriptions, strict=True):
        day = line["created_at"].date()
        amount = line["amount"]
        table.row(
            days.get(day) or days.setdefault(day, day.isoformat()),
            KIND_LABELS[line["kind"]][0],
            description if latin1 else text(description),
            amounts.get(amount) or amounts.setdefault(amount, format_money(amount)),
        )
    table.end()
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
