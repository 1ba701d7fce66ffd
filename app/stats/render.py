"""Report rows as output: JSON values with totals per currency, or CSV lines."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from app.money import format_money
from app.rollups import registry
from app.stats.planner import Plan
from app.stats.request import bad
from app.stats.vocabulary import DIMENSIONS, METRICS, SUB_DIMENSIONS

# A JSON answer is built in memory; bigger reports take a limit or format=csv.
MAX_JSON_ROWS = 10_000
# A CSV download goes out in chunks of about this size.
CSV_CHUNK = 65536

# A row as asyncpg gives it, or as a dict (app/stats/subids.py).
Record = asyncpg.Record | Mapping[str, Any]
Cells = Callable[[Record], list[Any]]
_DECIMAL_METRICS = frozenset({"revenue", "payout", "customer_revenue", "profit", "cr", "epc"})
_TEXT_DIMENSIONS = frozenset({*SUB_DIMENSIONS, "country", "device", "os", "browser"})
_TEXT_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _none_if_empty(value: str) -> str | None:
    return value or None  # "none": a click without that sub-ID, an unknown country


def _converter(column: str, zone: ZoneInfo) -> Callable[[Any], Any] | None:
    if column == "hour":
        return lambda value: value.astimezone(zone).isoformat()
    if column in ("day", "week", "month"):
        return date.isoformat
    if column in _DECIMAL_METRICS:
        return format_money
    if column in _TEXT_DIMENSIONS:
        return _none_if_empty
    return None


def _cells(plan: Plan) -> Cells:
    """A record's output values, in the plan's column order; the conversions are looked up
    once per report, not once per cell (a CSV export renders tens of thousands of rows)."""
    steps = [(f"d_{c}" if c in DIMENSIONS else c, _converter(c, plan.zone)) for c in plan.columns]

    def cells(record: Record) -> list[Any]:
        out = []
        for source, convert in steps:
            value = record[source]
            out.append(value if value is None or convert is None else convert(value))
        return out

    return cells


def _row(record: Record, plan: Plan, cells: Cells) -> dict[str, Any]:
    return dict(zip(plan.columns, cells(record), strict=True))


def _totals(records: Iterable[Record], plan: Plan, cells: Cells) -> dict[str, Any]:
    """Totals over every row, and per currency: money only adds up within one currency,
    so the overall money fields are null when the report holds several."""
    per_currency = sorted(
        (
            {k: v for k, v in _row(r, plan, cells).items() if k == "currency" or k in METRICS}
            for r in records
        ),
        key=lambda r: str(r["currency"]),
    )
    if len(per_currency) == 1:
        return {"totals": dict(per_currency[0]), "totals_by_currency": per_currency}
    overall: dict[str, Any] = {"currency": None}
    for m in registry.COUNT_METRICS:
        overall[m] = sum(r[m] for r in per_currency)
    for m in METRICS:
        if m in plan.hidden or m in overall:
            continue
        if m == "cr":
            clicks = overall["clicks"]
            overall[m] = (
                format_money(
                    (Decimal(overall["conversions"]) * 100 / clicks).quantize(
                        Decimal("0.01"), ROUND_HALF_UP
                    )
                )
                if clicks
                else None
            )
        elif m == "epc" or per_currency:
            overall[m] = None
        else:
            overall[m] = "0.00"  # an empty report: no money in any currency
    return {"totals": overall, "totals_by_currency": per_currency}


def json_body(plan: Plan, records: Sequence[Record]) -> dict[str, Any]:
    """The JSON answer from the rows of queries.build(..., totals=True)."""
    rows = [r for r in records if not r["is_total"]]
    totals = [r for r in records if r["is_total"]] if plan.report.group_by else rows
    if len(rows) > MAX_JSON_ROWS:
        raise bad(
            "too_many_rows",
            f"the report has more than {MAX_JSON_ROWS} rows: add a limit, narrow it, "
            "or use format=csv",
        )
    cells = _cells(plan)
    return {"rows": [_row(r, plan, cells) for r in rows], **_totals(totals, plan, cells)}


def _defuse(value: Any) -> Any:
    # A cell starting with = + - @ is a formula to a spreadsheet; sub-IDs and names are
    # visitor- or user-supplied text, so they are defused with a leading apostrophe.
    # Metrics (a negative profit) are numbers and are never passed here.
    if isinstance(value, str) and value.startswith(_TEXT_FORMULA_START):
        return "'" + value
    return value


class CsvLines:
    """The report as CSV, header first: records go in, chunks of lines come out."""

    def __init__(self, plan: Plan) -> None:
        self._cells = _cells(plan)
        self._text = [
            i
            for i, c in enumerate(plan.columns)
            if c in _TEXT_DIMENSIONS or c.endswith("_name") or c == "currency"
        ]
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")
        self._writer.writerow(plan.columns)

    def add(self, record: asyncpg.Record) -> bytes | None:
        """The lines so far once they fill a chunk."""
        values = self._cells(record)
        for i in self._text:
            values[i] = _defuse(values[i])
        self._writer.writerow(values)
        return self.flush() if self._buffer.tell() > CSV_CHUNK else None

    def flush(self) -> bytes:
        """The lines not yet returned (the header, at first)."""
        out = self._buffer.getvalue().encode()
        self._buffer.seek(0)
        self._buffer.truncate()
        return out
