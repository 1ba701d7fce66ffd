-- The money owed to affiliates (issue 14, second half): one append-only ledger from which
-- every balance, payout and statement is derived (app/ledger, app/payouts).
--
-- An entry is never updated or deleted (the trigger below refuses both), nor a payout's
-- claim on entries: a state change of the money is a new entry, or a fact derived at read
-- time (ledger_entry_states).

ALTER TABLE offers ADD COLUMN hold_days integer NOT NULL DEFAULT 30;
ALTER TABLE offers ADD CONSTRAINT offers_hold_days_check
    CHECK (hold_days BETWEEN 0 AND 3650) NOT VALID;
ALTER TABLE offers VALIDATE CONSTRAINT offers_hold_days_check;

-- {"USD": "50.00"}: the smallest payout per currency; a currency not listed takes the
-- PAYOUT_THRESHOLD setting.
ALTER TABLE affiliates ADD COLUMN payout_threshold jsonb NOT NULL DEFAULT '{}';
ALTER TABLE affiliates ADD CONSTRAINT affiliates_payout_threshold_check
    CHECK (jsonb_typeof(payout_threshold) = 'object') NOT VALID;
ALTER TABLE affiliates VALIDATE CONSTRAINT affiliates_payout_threshold_check;

CREATE TABLE payout_runs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    currency       char(3) NOT NULL,
    up_to          date NOT NULL,
    -- The moment entries had to be available by: the end of up_to (UTC) or the run's
    -- time, whichever is earlier (nothing still in hold is ever taken).
    cutoff         timestamptz NOT NULL,
    affiliate_ids  bigint[],
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE payouts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          bigint REFERENCES payout_runs (id),
    affiliate_id    bigint NOT NULL REFERENCES affiliates (id),
    currency        char(3) NOT NULL,
    amount          numeric(18, 4) NOT NULL CHECK (amount > 0),
    -- The ledger entries the payout took (its claim; one array per payout rather than a
    -- row per entry: a run over 10,000 affiliates claims millions of entries). A failed
    -- payout's claim stops counting because its status says so.
    entry_ids       bigint[] NOT NULL,
    -- requested (by the affiliate) and pending (made by a run) hold their entries until
    -- paid or failed; a failed payout's entries are available again.
    status          text NOT NULL CHECK (status IN ('requested', 'pending', 'paid', 'failed')),
    period_start    timestamptz NOT NULL,
    period_end      timestamptz NOT NULL,
    reference       text CHECK (length(reference) <= 200),
    failure_reason  text CHECK (length(failure_reason) <= 2000),
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    settled_at      timestamptz,
    settled_by      text,
    CHECK ((status IN ('paid', 'failed')) = (settled_at IS NOT NULL))
);
CREATE INDEX payouts_run_idx ON payouts (run_id, id);
CREATE INDEX payouts_affiliate_idx ON payouts (affiliate_id, id);

CREATE TABLE ledger_entries (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign keys to affiliates or conversions: the attribution hot path writes
    -- commissions, and a key check locks the parent row per entry. Neither is deleted
    -- while entries refer to it (an affiliate with entries is archived instead).
    affiliate_id   bigint NOT NULL,
    currency       char(3) NOT NULL,
    kind           text NOT NULL CHECK (kind IN
                       ('commission', 'reversal', 'clawback', 'bonus', 'adjustment', 'payout')),
    amount         numeric(18, 4) NOT NULL CHECK (amount <> 0),
    -- commission, reversal, clawback: the conversion.
    conversion_id  bigint,
    -- payout: the payout whose money left (negative) or came back when it failed.
    payout_id      bigint REFERENCES payouts (id),
    -- reversal, clawback: the commission it cancels; at most one per commission, so a
    -- refund is never subtracted twice.
    reverses       bigint REFERENCES ledger_entries (id),
    -- commission: the offer's hold_days when the commission was written.
    hold_days      integer CHECK (hold_days BETWEEN 0 AND 3650),
    reason         text CHECK (length(reason) <= 2000),
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK (kind <> 'commission'
           OR (amount > 0 AND conversion_id IS NOT NULL AND hold_days IS NOT NULL
               AND reverses IS NULL AND payout_id IS NULL)),
    CHECK (kind NOT IN ('reversal', 'clawback')
           OR (amount < 0 AND reverses IS NOT NULL AND conversion_id IS NOT NULL)),
    CHECK (kind NOT IN ('bonus', 'adjustment')
           OR (reason IS NOT NULL AND conversion_id IS NULL AND reverses IS NULL
               AND payout_id IS NULL)),
    CHECK (kind <> 'payout' OR (payout_id IS NOT NULL AND conversion_id IS NULL))
);
CREATE INDEX ledger_entries_affiliate_idx ON ledger_entries (affiliate_id, currency, id);
CREATE INDEX ledger_entries_conversion_idx ON ledger_entries (conversion_id)
    WHERE conversion_id IS NOT NULL;
CREATE UNIQUE INDEX ledger_entries_reverses_key ON ledger_entries (reverses)
    WHERE reverses IS NOT NULL;
-- One affiliate's counter entries (its balance joins them; the index above alone made the
-- planner walk every counter of every affiliate).
CREATE INDEX ledger_entries_counters_idx ON ledger_entries (affiliate_id, reverses)
    WHERE reverses IS NOT NULL;
CREATE INDEX ledger_entries_payout_idx ON ledger_entries (payout_id) WHERE payout_id IS NOT NULL;

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- A payout's claim on its entries (entry_ids) and its money never change: only its status
-- and what settled it (reference, failure_reason, settled_at, settled_by) may.
CREATE FUNCTION refuse_payout_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR (NEW.id, NEW.run_id, NEW.affiliate_id, NEW.currency, NEW.amount,
            NEW.entry_ids, NEW.period_start, NEW.period_end, NEW.created_by, NEW.created_at)
        IS DISTINCT FROM (OLD.id, OLD.run_id, OLD.affiliate_id, OLD.currency, OLD.amount,
            OLD.entry_ids, OLD.period_start, OLD.period_end, OLD.created_by, OLD.created_at)
        OR OLD.status IN ('paid', 'failed') THEN
        RAISE EXCEPTION 'payouts: only an unsettled payout''s status may change (% refused)',
            TG_OP USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER payouts_claims_fixed BEFORE UPDATE OR DELETE ON payouts
    FOR EACH ROW EXECUTE FUNCTION refuse_payout_change();

-- The one derivation of an entry's state (app/ledger/queries.py reads it, nothing else
-- decides). `state`:
--   payout     money that left (negative) or came back (positive) with a payout
--   cancelled  a commission and the reversal that cancels it (they net to zero)
--   paid, in_payout   taken by a payout that is paid / not paid yet (requested, pending)
--   owed_back  a clawback no payout has netted off yet (negative)
--   pending    a commission whose conversion is not approved
--   open       payable from available_at on (held before it)
-- A commission taken by a payout stays paid whatever its conversion does next: a later
-- rejection appends a clawback, never a reversal (app/ledger/record.py).
CREATE VIEW ledger_entry_states AS
SELECT e.id, e.affiliate_id, e.currency, e.kind, e.amount, e.conversion_id, e.payout_id,
       e.reverses, e.hold_days, e.reason, e.created_by, e.created_at,
       CASE
           WHEN e.kind = 'payout' THEN 'payout'
           WHEN e.kind = 'reversal' THEN 'cancelled'
           WHEN live.status = 'paid' THEN 'paid'
           WHEN live.status IS NOT NULL THEN 'in_payout'
           WHEN e.kind = 'clawback' THEN 'owed_back'
           WHEN e.kind <> 'commission' THEN 'open'
           WHEN k.kind = 'reversal' THEN 'cancelled'
           WHEN k.kind = 'clawback' THEN 'open'
           WHEN c.status = 'approved' THEN 'open'
           ELSE 'pending'
       END AS state,
       CASE
           WHEN e.kind <> 'commission' THEN e.created_at
           WHEN k.kind IS NOT NULL THEN k.created_at
           WHEN c.status = 'approved'
               THEN coalesce(c.status_at, c.updated_at) + make_interval(days => e.hold_days)
       END AS available_at,
       live.payout_id AS live_payout_id
FROM ledger_entries e
-- (a counter entry is the commission's affiliate's: by affiliate too, so that one
-- affiliate's reads look at its own counters only)
LEFT JOIN ledger_entries k ON k.reverses = e.id AND k.affiliate_id = e.affiliate_id
LEFT JOIN conversions c ON c.id = e.conversion_id AND e.kind = 'commission'
LEFT JOIN (
    -- (by affiliate too, so that one affiliate's reads unnest its own payouts only)
    SELECT p.affiliate_id, u.entry_id, p.id AS payout_id, p.status
    FROM payouts p CROSS JOIN LATERAL unnest(p.entry_ids) AS u(entry_id)
    WHERE p.status <> 'failed'
) live ON live.entry_id = e.id AND live.affiliate_id = e.affiliate_id;

-- Conversions stored before the ledger: their commission, as attribution writes it now.
INSERT INTO ledger_entries (affiliate_id, currency, kind, amount, conversion_id, hold_days,
                            created_by, created_at)
SELECT c.affiliate_id, c.currency, 'commission', c.payout, c.id, o.hold_days, 'migration',
       c.created_at
FROM conversions c JOIN offers o ON o.id = c.offer_id
JOIN affiliates a ON a.id = c.affiliate_id
WHERE c.status IN ('approved', 'pending') AND c.payout > 0
ORDER BY c.id;
