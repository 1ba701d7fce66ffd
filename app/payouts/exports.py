"""A payout run as a batch payment file: PayPal Payouts, Wise batch, or a plain CSV.

Formats (../shared/INTEGRATIONS.md, "Payout files"):
- PayPal Payouts web upload: no header row; recipient, amount, currency (one per file),
  reference, note, wallet (PAYPAL); at most 5,000 rows per file.
- Wise batch (header from third-party files, not confirmed by Wise's own help):
  name,recipientEmail,paymentReference,receiverType,amountCurrency,amount,sourceCurrency,
  targetCurrency,IBAN; at most 1,000 transfers per file.
A run with more payouts than a file holds is exported in parts (`part`, 1-based). A
payout whose affiliate has no details for the format's method is left out of that file
(its ID is in the X-Payouts-Skipped header); the plain CSV lists every live payout.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Literal

from app.attribution.money import round_money
from app.db import Executor
from app.errors import NotFound
from app.partners.payment import PaymentCipher
from app.payouts import payment, queries

Format = Literal["paypal", "wise", "csv"]
MEDIA_TYPE = "text/csv; charset=utf-8"
ROWS_PER_FILE: dict[str, int] = {"paypal": 5000, "wise": 1000, "csv": 1_000_000}
WISE_HEADER = [
    "name",
    "recipientEmail",
    "paymentReference",
    "receiverType",
    "amountCurrency",
    "amount",
    "sourceCurrency",
    "targetCurrency",
    "IBAN",
]
CSV_HEADER = [
    "payout_id",
    "affiliate_id",
    "name",
    "email",
    "method",
    "currency",
    "amount",
    "status",
    "period_start",
    "period_end",
]


@dataclass(frozen=True, slots=True)
class Export:
    filename: str
    content: str
    parts: int
    skipped: list[int]

    def headers(self) -> dict[str, str]:
        """What a download of it says: its name, how many parts the export takes, and
        the payouts left out for want of details (the API's and the portal's)."""
        return {
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "X-Export-Parts": str(self.parts),
            "X-Payouts-Skipped": ",".join(map(str, self.skipped)),
        }


def reference(payout_id: int) -> str:
    return f"PAYOUT-{payout_id}"


def _text(value: str | None) -> str:
    # A spreadsheet opening the file must not run a cell as a formula.
    text = (value or "").replace("\r", " ").replace("\n", " ")
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t") else text


async def export_run(
    conn: Executor,
    *,
    run_id: int,
    fmt: Format,
    part: int,
    program_name: str,
    cipher: PaymentCipher | None,
) -> Export:
    rows = await conn.fetch(queries.EXPORT_ROWS, run_id)
    details = await payment.payment_details(conn, sorted({r["affiliate_id"] for r in rows}), cipher)
    method = {"paypal": "paypal", "wise": "wise"}.get(fmt)
    skipped = []
    if method is not None:
        usable = []
        for r in rows:
            d = details.get(r["affiliate_id"])
            if d is None or d.method != method or not d.email:
                skipped.append(r["id"])
            else:
                usable.append(r)
        rows = usable
    per_file = ROWS_PER_FILE[fmt]
    parts = max(1, -(-len(rows) // per_file))
    if part > parts:
        raise NotFound(f"part {part} does not exist: this export has {parts}")
    chunk = rows[(part - 1) * per_file : part * per_file]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if fmt == "wise":
        writer.writerow(WISE_HEADER)
    if fmt == "csv":
        writer.writerow(CSV_HEADER)
    for r in chunk:
        currency = r["currency"]
        amount = format(round_money(r["amount"], currency), "f")
        d = details.get(r["affiliate_id"])
        if fmt == "paypal":
            assert d is not None
            note = f"{program_name} payout {r['period_end']:%Y-%m-%d}"
            writer.writerow(
                [_text(d.email), amount, currency, reference(r["id"]), _text(note), "PAYPAL"]
            )
        elif fmt == "wise":
            assert d is not None
            writer.writerow(
                [
                    _text(d.name or r["name"]),
                    _text(d.email),
                    reference(r["id"]),
                    d.receiver_type,
                    "target",
                    amount,
                    currency,
                    currency,
                    _text(d.iban),
                ]
            )
        else:
            writer.writerow(
                [
                    r["id"],
                    r["affiliate_id"],
                    _text(r["name"]),
                    _text(r["email"]),
                    d.method if d else "",
                    currency,
                    amount,
                    r["status"],
                    r["period_start"].isoformat(),
                    r["period_end"].isoformat(),
                ]
            )
    suffix = f"-part{part}" if parts > 1 else ""
    return Export(
        filename=f"payout-run-{run_id}-{fmt}{suffix}.csv",
        content=out.getvalue(),
        parts=parts,
        skipped=skipped,
    )
