"""SQL of the ledger. States come from the view ledger_entry_states (migration 0025), the
one place that derives them."""

from app.pagination import page_sql

# Shared locks per currency, taken by a writer that may cancel or un-approve a commission:
# a payout run holds the same lock exclusively, so a commission is never taken by a run
# while a rejection that saw it unpaid (and so wrote a reversal, not a clawback) commits.
LOCK_CURRENCIES_SHARED = """
SELECT count(pg_advisory_xact_lock_shared(k))
FROM (SELECT k FROM unnest($1::bigint[]) k ORDER BY k) s
"""

# The commissions of conversions that became approved or pending (given in conversion
# order); the hold is the offer's at this moment, kept with the entry.
INSERT_COMMISSIONS = """
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, hold_days,
                            created_by)
SELECT u.affiliate_id, u.currency, 'commission', u.amount, u.conversion_id,
       coalesce(o.hold_days, 30), u.created_by
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::numeric[], $5::bigint[], $6::text[])
    AS u(conversion_id, affiliate_id, currency, amount, offer_id, created_by)
LEFT JOIN offers o ON o.id = u.offer_id
"""

# Rejected conversions: each commission not cancelled yet gets its counter entry, a
# reversal when no live payout took it, else a clawback that later payouts net off.
INSERT_COUNTERS = """
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, reverses,
                            reason, created_by)
SELECT e.affiliate_id, e.currency,
       CASE WHEN EXISTS (
           SELECT 1 FROM payouts p
           WHERE p.affiliate_id = e.affiliate_id AND p.status <> 'failed'
             AND e.id = ANY (p.entry_ids)
       ) THEN 'clawback' ELSE 'reversal' END,
       -e.amount, e.conversion_id, e.id, 'conversion ' || u.status, u.created_by
FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(conversion_id, status, created_by)
JOIN ledger_entries e ON e.conversion_id = u.conversion_id AND e.kind = 'commission'
WHERE NOT EXISTS (SELECT 1 FROM ledger_entries k WHERE k.reverses = e.id)
ORDER BY e.id
ON CONFLICT (reverses) WHERE reverses IS NOT NULL DO NOTHING
"""

INSERT_MANUAL = """
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, reason, created_by)
SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM affiliates WHERE id = $1)
RETURNING id, affiliate_id, currency, kind, amount, conversion_id, payout_id, reverses,
          reason, created_by, created_at
"""

NOW = "SELECT now()"

# Per affiliate and currency: the sums a balance is made of, from the sums per state and
# day (migration 0069) and, for the day of `at` ($2; $3 its UTC day, $4 that day's
# start), from that day's open entries themselves: held turns available at `at`.
BALANCE = """
WITH days AS (
    SELECT affiliate_id, currency,
           sum(credit + debit) FILTER (WHERE state = 'pending') AS pending,
           sum(credit + debit) FILTER (WHERE state = 'open' AND day > $3) AS held,
           sum(credit + debit) FILTER (WHERE state = 'open' AND day < $3) AS available,
           sum(credit + debit) FILTER (WHERE state = 'in_payout') AS in_payout,
           sum(credit + debit) FILTER (WHERE state = 'paid') AS paid,
           sum(credit + debit) FILTER (WHERE state = 'owed_back') AS owed_back
    FROM ledger_balance_days
    WHERE affiliate_id = ANY($1::bigint[])
    GROUP BY affiliate_id, currency
), today AS (
    SELECT affiliate_id, currency,
           sum(amount) FILTER (WHERE available_at > $2) AS held,
           sum(amount) FILTER (WHERE available_at <= $2) AS available
    FROM ledger_entry_balances
    WHERE state = 'open' AND affiliate_id = ANY($1::bigint[])
      AND available_at >= $4 AND available_at < $4 + interval '1 day'
    GROUP BY affiliate_id, currency
)
SELECT d.affiliate_id, d.currency,
       coalesce(d.pending, 0) AS pending,
       coalesce(d.held, 0) + coalesce(t.held, 0) AS held,
       coalesce(d.available, 0) + coalesce(t.available, 0) AS available,
       coalesce(d.in_payout, 0) AS in_payout,
       coalesce(d.paid, 0) AS paid,
       -coalesce(d.owed_back, 0) AS owed_back
FROM days d LEFT JOIN today t USING (affiliate_id, currency)
ORDER BY d.affiliate_id, d.currency
"""

ENTRY_COLUMNS = """id, affiliate_id, currency, kind, amount, conversion_id, payout_id, reverses,
reason, created_by, created_at, state, available_at, live_payout_id"""

# The entries with their states, as the view derives them, but the payout that holds an
# entry read from the state kept for it (migration 0069) instead of every payout's claims
# (which one affiliate's page of 50 entries would otherwise unnest once per entry).
ENTRY_STATES = """(
    SELECT e.id, e.affiliate_id, e.currency, e.kind, e.amount, e.conversion_id, e.payout_id,
           e.reverses, e.reason, e.created_by, e.created_at,
           ledger_state(e.kind, b.live_status, k.kind, c.status) AS state,
           ledger_available_at(e.kind, e.created_at, k.created_at, c.status,
                               coalesce(c.status_at, c.updated_at), e.hold_days) AS available_at,
           b.live_payout_id
    FROM ledger_entries e
    LEFT JOIN ledger_entry_balances b ON b.entry_id = e.id
    LEFT JOIN ledger_entries k ON k.reverses = e.id AND k.affiliate_id = e.affiliate_id
    LEFT JOIN conversions c ON c.id = e.conversion_id AND e.kind = 'commission'
) s"""

LIST_ENTRIES = page_sql(
    f"SELECT {ENTRY_COLUMNS} FROM {ENTRY_STATES}",
    """affiliate_id in bigint[], currency = text, kind = text,
    created_at >= timestamptz, created_at < timestamptz""",
)

THRESHOLDS = "SELECT payout_threshold::text FROM affiliates WHERE id = $1"
# A page of the affiliates that have entries ($3: only these; NULL: all), by ID.
WITH_ENTRIES = """
SELECT a.id, a.payout_threshold::text AS thresholds FROM affiliates a
WHERE a.id > $1 AND ($3::bigint[] IS NULL OR a.id = ANY($3::bigint[]))
  AND EXISTS (SELECT 1 FROM ledger_entries e WHERE e.affiliate_id = a.id)
ORDER BY a.id LIMIT $2
"""
