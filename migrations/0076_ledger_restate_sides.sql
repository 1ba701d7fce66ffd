-- ledger_restate (migration 0069) skipped a sum row whose credits and debits moved by
-- opposite amounts with their counts unchanged (entries swapping days within one call):
-- its total moved by 0, so the row kept its old credit and debit. No writer restates
-- such a set in one call today; the rule now tests credits and debits on their own.

-- Restate these entries: `live` is the status of the live payout that holds them
-- (`payout`; NULL: none). Their stored rows leave the sums and their states now enter them, as one
-- statement whose sums are written in key order (so concurrent writers lock sum rows in
-- one order within it).
CREATE OR REPLACE FUNCTION ledger_restate(ids bigint[], live text, payout bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN;
    END IF;
    WITH old AS (
        SELECT b.entry_id, b.affiliate_id, b.currency, b.state, b.amount, b.available_at
        FROM ledger_entry_balances b WHERE b.entry_id = ANY (ids)
    ), now_ AS (
        SELECT e.id AS entry_id, e.affiliate_id, e.currency, e.amount, e.created_at,
               ledger_state(e.kind, live, k.kind, c.status) AS state,
               ledger_available_at(e.kind, e.created_at, k.created_at, c.status,
                                   coalesce(c.status_at, c.updated_at), e.hold_days)
                   AS available_at
        FROM ledger_entries e
        LEFT JOIN ledger_entries k ON k.reverses = e.id AND k.affiliate_id = e.affiliate_id
        LEFT JOIN conversions c ON c.id = e.conversion_id AND e.kind = 'commission'
        WHERE e.id = ANY (ids)
    ), counted AS (
        SELECT * FROM now_ WHERE state NOT IN ('payout', 'cancelled')
    ), gone AS (
        DELETE FROM ledger_entry_balances b
        WHERE b.entry_id = ANY (ids) AND b.entry_id NOT IN (SELECT entry_id FROM counted)
    ), kept AS (
        INSERT INTO ledger_entry_balances AS b
            (entry_id, affiliate_id, currency, state, amount, created_at, available_at,
             live_payout_id, live_status)
        SELECT entry_id, affiliate_id, currency, state, amount, created_at, available_at,
               payout, live
        FROM counted
        ON CONFLICT (entry_id) DO UPDATE
        SET state = excluded.state, available_at = excluded.available_at,
            live_payout_id = excluded.live_payout_id, live_status = excluded.live_status
    ), delta AS (
        SELECT affiliate_id, currency, state, ledger_balance_day(state, available_at) AS day,
               -amount AS amount, -1 AS n
        FROM old
        UNION ALL
        SELECT affiliate_id, currency, state, ledger_balance_day(state, available_at), amount, 1
        FROM counted
    )
    INSERT INTO ledger_balance_days AS t
        (affiliate_id, currency, state, day, credit, debit, credits, debits)
    SELECT affiliate_id, currency, state, day,
           coalesce(sum(amount) FILTER (WHERE amount * n > 0), 0),
           coalesce(sum(amount) FILTER (WHERE amount * n < 0), 0),
           coalesce(sum(n) FILTER (WHERE amount * n > 0), 0),
           coalesce(sum(n) FILTER (WHERE amount * n < 0), 0)
    FROM delta GROUP BY 1, 2, 3, 4
    -- (an entry that stays where it was locks no sum row)
    HAVING coalesce(sum(amount) FILTER (WHERE amount * n > 0), 0) <> 0
        OR coalesce(sum(amount) FILTER (WHERE amount * n < 0), 0) <> 0
        OR coalesce(sum(n) FILTER (WHERE amount * n > 0), 0) <> 0
        OR coalesce(sum(n) FILTER (WHERE amount * n < 0), 0) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (affiliate_id, currency, state, day) DO UPDATE
    SET credit = t.credit + excluded.credit, debit = t.debit + excluded.debit,
        credits = t.credits + excluded.credits, debits = t.debits + excluded.debits;
END
$$;
