-- Balances without reading every ledger entry (issue 16): each entry's state kept as it
-- changes, and per affiliate, currency, state and day of available_at the sums of them.
--
-- The derivation of a state stays one: ledger_state and ledger_available_at below, which
-- the view ledger_entry_states (migration 0025, redefined here with them) and the
-- triggers use alike. What can change an entry's state, and the trigger that restates it:
--   a new entry (and the commission a new counter entry cancels)   ledger_entries INSERT
--   its conversion's status or status time                         conversions UPDATE/DELETE
--   a payout claiming it, paid or failed                           payouts INSERT/UPDATE
-- Each restates the entries concerned (ledger_restate): their stored state is taken out
-- of the sums and their state now put in, in the writer's own transaction.

-- A state from what decides it: the entry's kind, the status of the live (not failed)
-- payout that took it, the kind of its counter entry, its conversion's status.
CREATE FUNCTION ledger_state(kind text, live_status text, counter_kind text,
                             conversion_status text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN kind = 'payout' THEN 'payout'
    WHEN kind = 'reversal' THEN 'cancelled'
    WHEN live_status = 'paid' THEN 'paid'
    WHEN live_status IS NOT NULL THEN 'in_payout'
    WHEN kind = 'clawback' THEN 'owed_back'
    WHEN kind <> 'commission' THEN 'open'
    WHEN counter_kind = 'reversal' THEN 'cancelled'
    WHEN counter_kind = 'clawback' THEN 'open'
    WHEN conversion_status = 'approved' THEN 'open'
    ELSE 'pending'
END
$$;

-- When an open entry is payable: conversion_at is coalesce(status_at, updated_at).
CREATE FUNCTION ledger_available_at(kind text, created_at timestamptz,
                                    counter_at timestamptz, conversion_status text,
                                    conversion_at timestamptz, hold_days integer)
RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN kind <> 'commission' THEN created_at
    WHEN counter_at IS NOT NULL THEN counter_at
    WHEN conversion_status = 'approved'
        THEN conversion_at + make_interval(days => hold_days)
END
$$;

CREATE OR REPLACE VIEW ledger_entry_states AS
SELECT e.id, e.affiliate_id, e.currency, e.kind, e.amount, e.conversion_id, e.payout_id,
       e.reverses, e.hold_days, e.reason, e.created_by, e.created_at,
       ledger_state(e.kind, live.status, k.kind, c.status) AS state,
       ledger_available_at(e.kind, e.created_at, k.created_at, c.status,
                           coalesce(c.status_at, c.updated_at), e.hold_days) AS available_at,
       live.payout_id AS live_payout_id
FROM ledger_entries e
LEFT JOIN ledger_entries k ON k.reverses = e.id AND k.affiliate_id = e.affiliate_id
LEFT JOIN conversions c ON c.id = e.conversion_id AND e.kind = 'commission'
LEFT JOIN (
    SELECT p.affiliate_id, u.entry_id, p.id AS payout_id, p.status
    FROM payouts p CROSS JOIN LATERAL unnest(p.entry_ids) AS u(entry_id)
    WHERE p.status <> 'failed'
) live ON live.entry_id = e.id AND live.affiliate_id = e.affiliate_id;

-- Each entry the balance counts (state pending, open, owed_back, in_payout or paid) with
-- its state now; an entry in no such state (payout, cancelled: both for good) has no row.
CREATE TABLE ledger_entry_balances (
    entry_id      bigint PRIMARY KEY,
    affiliate_id  bigint NOT NULL,
    currency      char(3) NOT NULL,
    state         text NOT NULL,
    amount        numeric(18, 4) NOT NULL,
    created_at    timestamptz NOT NULL,
    available_at  timestamptz,
    -- the live (not failed) payout that holds it, and that payout's status
    live_payout_id bigint,
    live_status   text
);
-- The day near `now` is read from here (open entries by when they become payable), and
-- a run's preview finds an affiliate's oldest takeable entry here.
CREATE INDEX ledger_entry_balances_open_idx
    ON ledger_entry_balances (affiliate_id, available_at) WHERE state = 'open';
CREATE INDEX ledger_entry_balances_open_currency_idx
    ON ledger_entry_balances (currency, available_at) WHERE state = 'open';
CREATE INDEX ledger_entry_balances_takeable_idx
    ON ledger_entry_balances (affiliate_id, currency, created_at)
    WHERE state IN ('open', 'owed_back');

-- The sums: day is the UTC day of available_at for open entries, -infinity for the other
-- states (whose sums do not depend on the time). Credits and debits apart: a run takes
-- every debit whatever its day. A row stays (with zeros) once made, so that each
-- affiliate's currencies are those it ever had entries in.
CREATE TABLE ledger_balance_days (
    affiliate_id  bigint NOT NULL,
    currency      char(3) NOT NULL,
    state         text NOT NULL,
    day           date NOT NULL,
    credit        numeric NOT NULL,
    debit         numeric NOT NULL,
    credits       bigint NOT NULL,
    debits        bigint NOT NULL,
    PRIMARY KEY (affiliate_id, currency, state, day)
);
CREATE INDEX ledger_balance_days_currency_idx ON ledger_balance_days (currency, state, day);

CREATE FUNCTION ledger_balance_day(state text, available_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE WHEN state = 'open' THEN (available_at AT TIME ZONE 'UTC')::date
            ELSE date '-infinity' END
$$;

-- Restate these entries: `live` is the status of the live payout that holds them
-- (`payout`; NULL: none). Their stored rows leave the sums and their states now enter them, as one
-- statement whose sums are written in key order (so concurrent writers lock sum rows in
-- one order within it).
CREATE FUNCTION ledger_restate(ids bigint[], live text, payout bigint) RETURNS void
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
    HAVING sum(amount) <> 0 OR sum(n) FILTER (WHERE amount * n > 0) <> 0
        OR sum(n) FILTER (WHERE amount * n < 0) <> 0
    ORDER BY 1, 2, 3, 4
    ON CONFLICT (affiliate_id, currency, state, day) DO UPDATE
    SET credit = t.credit + excluded.credit, debit = t.debit + excluded.debit,
        credits = t.credits + excluded.credits, debits = t.debits + excluded.debits;
END
$$;

-- New entries, and the commissions new counter entries cancel (unless a live payout
-- holds them: then they stay in it whatever their counter).
CREATE FUNCTION ledger_entries_restate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_restate(array_agg(n.id), NULL, NULL) FROM new_rows n;
    PERFORM ledger_restate(array_agg(n.reverses), NULL, NULL)
    FROM new_rows n
    WHERE n.reverses IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM ledger_entry_balances b
        WHERE b.entry_id = n.reverses AND b.live_status IS NOT NULL
    );
    RETURN NULL;
END
$$;
CREATE TRIGGER ledger_entries_balances AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_entries_restate();

-- A conversion's status or its time: its commissions not in a live payout.
CREATE FUNCTION conversions_ledger_restate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        PERFORM ledger_restate(array_agg(b.entry_id), NULL, NULL)
        FROM old_rows o
        JOIN new_rows n ON n.id = o.id
        JOIN ledger_entries e ON e.conversion_id = n.id AND e.kind = 'commission'
        JOIN ledger_entry_balances b ON b.entry_id = e.id AND b.live_status IS NULL
        WHERE (o.status, coalesce(o.status_at, o.updated_at))
            IS DISTINCT FROM (n.status, coalesce(n.status_at, n.updated_at));
    ELSE
        PERFORM ledger_restate(array_agg(b.entry_id), NULL, NULL)
        FROM old_rows o
        JOIN ledger_entries e ON e.conversion_id = o.id AND e.kind = 'commission'
        JOIN ledger_entry_balances b ON b.entry_id = e.id AND b.live_status IS NULL;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversions_ledger_update AFTER UPDATE ON conversions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION conversions_ledger_restate();
CREATE TRIGGER conversions_ledger_delete AFTER DELETE ON conversions
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION conversions_ledger_restate();

-- A payout's claim: its entries go in payout (or paid) when it is made and when it is
-- paid, and back to their own states when it fails.
CREATE FUNCTION payouts_ledger_restate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    p record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR p IN SELECT n.id, n.entry_ids, n.status FROM new_rows n ORDER BY n.id LOOP
            PERFORM ledger_restate(p.entry_ids, nullif(p.status, 'failed'),
                                   CASE WHEN p.status <> 'failed' THEN p.id END);
        END LOOP;
    ELSE
        FOR p IN
            SELECT n.id, n.entry_ids, n.status FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE n.status IS DISTINCT FROM o.status ORDER BY n.id
        LOOP
            PERFORM ledger_restate(p.entry_ids, nullif(p.status, 'failed'),
                                   CASE WHEN p.status <> 'failed' THEN p.id END);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER payouts_ledger_insert AFTER INSERT ON payouts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payouts_ledger_restate();
CREATE TRIGGER payouts_ledger_update AFTER UPDATE ON payouts
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payouts_ledger_restate();

-- What is stored already: every entry's state by the view, under locks that keep
-- writers out until this transaction commits.
LOCK TABLE ledger_entries, payouts IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE conversions IN SHARE MODE;
INSERT INTO ledger_entry_balances
    (entry_id, affiliate_id, currency, state, amount, created_at, available_at,
     live_payout_id, live_status)
SELECT s.id, s.affiliate_id, s.currency, s.state, s.amount, s.created_at, s.available_at,
       s.live_payout_id, p.status
FROM ledger_entry_states s LEFT JOIN payouts p ON p.id = s.live_payout_id
WHERE s.state NOT IN ('payout', 'cancelled');
INSERT INTO ledger_balance_days (affiliate_id, currency, state, day, credit, debit, credits,
                                 debits)
SELECT affiliate_id, currency, state, ledger_balance_day(state, available_at),
       coalesce(sum(amount) FILTER (WHERE amount > 0), 0),
       coalesce(sum(amount) FILTER (WHERE amount < 0), 0),
       count(*) FILTER (WHERE amount > 0), count(*) FILTER (WHERE amount < 0)
FROM ledger_entry_balances GROUP BY 1, 2, 3, 4;
-- (each affiliate's currencies, also those whose entries are all cancelled or payouts)
INSERT INTO ledger_balance_days (affiliate_id, currency, state, day, credit, debit, credits,
                                 debits)
SELECT DISTINCT affiliate_id, currency, 'paid', date '-infinity', 0, 0, 0, 0
FROM ledger_entries
ON CONFLICT DO NOTHING;
