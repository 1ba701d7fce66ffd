"""SQL of payout runs, payouts, their exports and statements."""

from app.pagination import page_sql

# One payout run or request per currency at a time (a second one gets 409 at once).
TRY_LOCK = "SELECT pg_try_advisory_xact_lock($1)"
# Then the ledger's currency lock, exclusively: a rejection that saw a commission unpaid
# (and wrote a reversal) has committed before the run reads, and none starts meanwhile.
LOCK = "SELECT pg_advisory_xact_lock($1)"
NOW = "SELECT now()"

EXISTING_AFFILIATES = "SELECT id FROM affiliates WHERE id = ANY($1::bigint[])"

RUN_COLUMNS = "id, currency, up_to, cutoff, affiliate_ids, created_by, created_at"
INSERT_RUN = f"""
INSERT INTO payout_runs (currency, up_to, cutoff, affiliate_ids, created_by)
VALUES ($1, $2, $3, $4, $5) RETURNING {RUN_COLUMNS}
"""
GET_RUN = f"SELECT {RUN_COLUMNS} FROM payout_runs WHERE id = $1"
# Newest first: a page goes on below the previous page's last ID ($1; 0: the first page).
LIST_RUNS = f"""
SELECT {RUN_COLUMNS} FROM payout_runs
WHERE ($1::bigint = 0 OR id < $1) AND ($3::text IS NULL OR currency = $3)
ORDER BY id DESC LIMIT $2
"""
# Each run's payouts per status ($1: the runs).
RUN_TOTALS = """
SELECT run_id, status, count(*) AS payouts, sum(amount) AS amount FROM payouts
WHERE run_id = ANY($1::bigint[])
GROUP BY run_id, status ORDER BY run_id, status
"""

# What a run or request would pay, per affiliate: exactly the entries payable by the
# cutoff that no live payout took, and every debit (clawback, negative adjustment) still
# to net off whatever its date (a debt is owed once known), where their sum reaches the
# affiliate's threshold. $1 currency, $2 cutoff, $3 affiliate IDs (NULL: all), $4 the
# default threshold. TAKE makes these payouts.
_DUE = """
WITH takeable AS MATERIALIZED (
    SELECT s.id, s.affiliate_id, s.amount, s.available_at, s.created_at
    FROM ledger_entry_states s
    WHERE s.currency = $1 AND s.state IN ('open', 'owed_back')
      AND (s.available_at <= $2 OR s.amount < 0)
      AND ($3::bigint[] IS NULL OR s.affiliate_id = ANY($3::bigint[]))
), due AS (
    SELECT t.affiliate_id, sum(t.amount) AS amount, min(t.created_at) AS period_start,
           array_agg(t.id ORDER BY t.id) AS entry_ids
    FROM takeable t JOIN affiliates a ON a.id = t.affiliate_id
    GROUP BY t.affiliate_id, a.payout_threshold
    HAVING sum(t.amount) > 0
       AND sum(t.amount) >= coalesce((a.payout_threshold ->> $1)::numeric, $4::numeric)
)"""
# PREVIEW reads the same selection from the ledger's sums per state and day (migration
# 0069) rather than from every entry: open entries of days before the cutoff's UTC day
# ($5; $6 its start) and every debit, and from the cutoff's day itself its open entries
# available by the cutoff; the period starts at the oldest entry taken.
PREVIEW = """
WITH sums AS (
    SELECT affiliate_id,
           sum(CASE WHEN state = 'owed_back' OR day < $5 THEN credit + debit ELSE debit END)
               AS amount,
           sum(CASE WHEN state = 'owed_back' OR day < $5 THEN credits + debits ELSE debits END)
               AS entries
    FROM ledger_balance_days
    WHERE currency = $1 AND state IN ('open', 'owed_back')
      AND ($3::bigint[] IS NULL OR affiliate_id = ANY($3::bigint[]))
    GROUP BY affiliate_id
    UNION ALL
    SELECT affiliate_id, sum(amount), count(*)
    FROM ledger_entry_balances
    WHERE currency = $1 AND state = 'open' AND amount > 0
      AND available_at >= $6 AND available_at <= $2 AND available_at < $6 + interval '1 day'
      AND ($3::bigint[] IS NULL OR affiliate_id = ANY($3::bigint[]))
    GROUP BY affiliate_id
), due AS (
    SELECT s.affiliate_id, a.name, sum(s.amount) AS amount, sum(s.entries)::bigint AS entries
    FROM sums s JOIN affiliates a ON a.id = s.affiliate_id
    GROUP BY s.affiliate_id, a.name, a.payout_threshold
    HAVING sum(s.amount) > 0
       AND sum(s.amount) >= coalesce((a.payout_threshold ->> $1)::numeric, $4::numeric)
)
SELECT d.affiliate_id, d.name, d.amount, least(f.created_at, $2) AS period_start, d.entries
FROM due d
CROSS JOIN LATERAL (
    SELECT b.created_at FROM ledger_entry_balances b
    WHERE b.affiliate_id = d.affiliate_id AND b.currency = $1
      AND b.state IN ('open', 'owed_back') AND (b.available_at <= $2 OR b.amount < 0)
    ORDER BY b.created_at LIMIT 1
) f
ORDER BY d.affiliate_id
"""
# Every payout of one run or request, in one statement: the due payouts, their claims,
# their (negative) entries. $5 the run (NULL: a request), $6 who, $7 the payouts' status.
TAKE = f"""{_DUE}, made AS (
    INSERT INTO payouts (run_id, affiliate_id, currency, amount, entry_ids, status,
                         period_start, period_end, created_by)
    SELECT $5, d.affiliate_id, $1, d.amount, d.entry_ids, $7, least(d.period_start, $2), $2,
           $6
    FROM due d ORDER BY d.affiliate_id
    RETURNING id, affiliate_id, amount
), moved AS (
    INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, payout_id, reason,
                                created_by)
    SELECT m.affiliate_id, $1, 'payout', -m.amount, m.id, 'payout', $6 FROM made m
    ORDER BY m.id
)
SELECT m.id FROM made m ORDER BY m.id
"""

PAYOUT_COLUMNS = """p.id, p.run_id, p.affiliate_id, p.currency, p.amount, p.status,
p.period_start, p.period_end, p.reference, p.failure_reason, p.created_by, p.created_at,
p.settled_at, p.settled_by"""

PAYOUTS_BY_ID = f"""
SELECT {PAYOUT_COLUMNS} FROM payouts p WHERE p.id = ANY($1::bigint[]) ORDER BY p.id
"""
# $2: the one affiliate an affiliate key may see (NULL: all).
GET_PAYOUT = f"""
SELECT {PAYOUT_COLUMNS} FROM payouts p
WHERE p.id = $1 AND ($2::bigint IS NULL OR p.affiliate_id = $2)
"""
LIST_PAYOUTS = page_sql(
    f"SELECT {PAYOUT_COLUMNS} FROM payouts p",
    "p.affiliate_id in bigint[], p.currency = text, p.status = text, p.run_id = bigint",
    order="p.id",
)

PAYOUT_CURRENCY = "SELECT currency FROM payouts WHERE id = $1"
MARK_PAID = f"""
UPDATE payouts p SET status = 'paid', reference = $2, settled_at = now(), settled_by = $3
WHERE p.id = $1 AND p.status IN ('requested', 'pending')
RETURNING {PAYOUT_COLUMNS}
"""
MARK_FAILED = f"""
UPDATE payouts p SET status = 'failed', failure_reason = $2, settled_at = now(),
    settled_by = $3
WHERE p.id = $1 AND p.status IN ('requested', 'pending')
RETURNING {PAYOUT_COLUMNS}
"""
# The money of a failed payout comes back as an entry; its claims stop counting.
RETURN_MONEY = """
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, payout_id, reason, created_by)
VALUES ($1, $2, 'payout', $3, $4, $5, $6)
"""

# A run's payouts with who is paid (payment details: app/payouts/payment.py).
EXPORT_ROWS = """
SELECT p.id, p.affiliate_id, p.currency, p.amount, p.status, p.period_start, p.period_end,
       a.name, a.email
FROM payouts p JOIN affiliates a ON a.id = p.affiliate_id
WHERE p.run_id = $1 AND p.status <> 'failed'
ORDER BY p.id
"""

STATEMENT_AFFILIATE = (
    "SELECT id, name, email, company, website, country FROM affiliates WHERE id = $1"
)
# A payout's entries in ID order: the first $2 (NULL: every one) after the entry $3.
STATEMENT_LINES = """
SELECT e.id, e.kind, e.amount, e.created_at, e.conversion_id, e.reverses, e.reason,
       c.txid, c.goal, c.received_at, c.offer_id, o.name AS offer_name
FROM (
    SELECT u.entry_id FROM payouts p CROSS JOIN LATERAL unnest(p.entry_ids) AS u(entry_id)
    WHERE p.id = $1 AND u.entry_id > $3 ORDER BY u.entry_id LIMIT $2
) u
JOIN ledger_entries e ON e.id = u.entry_id
LEFT JOIN conversions c ON c.id = e.conversion_id
LEFT JOIN offers o ON o.id = c.offer_id
ORDER BY e.id
"""
# Its totals per kind over every entry (and how many), as made with it (migration 0075).
STATEMENT_TOTALS = "SELECT kind, amount, entries FROM payout_totals WHERE payout_id = $1"
# How many times what statements print of an affiliate's conversions changed (NULL: never).
STATEMENT_VERSION = "SELECT version FROM statement_versions WHERE affiliate_id = $1"
OFFER_NAMES = "SELECT id, name FROM offers WHERE id = ANY($1::bigint[])"
