-- Each payout's entries summed per kind (issue 16): the totals a payout's page and its
-- statement print, without reading its entries (the busiest affiliate's month holds
-- tens of thousands). A payout's claim (entry_ids) never changes and neither do its
-- entries (the triggers of migration 0025), so the sums are made once, with the payout,
-- and never change either.
CREATE TABLE payout_totals (
    payout_id bigint NOT NULL,
    kind      text NOT NULL,
    amount    numeric NOT NULL,
    entries   bigint NOT NULL,
    PRIMARY KEY (payout_id, kind)
);
CREATE TRIGGER payout_totals_append_only BEFORE UPDATE OR DELETE ON payout_totals
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

CREATE FUNCTION payout_totals_made() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payout_totals (payout_id, kind, amount, entries)
    SELECT n.id, e.kind, sum(e.amount), count(*)
    FROM new_rows n
    CROSS JOIN LATERAL unnest(n.entry_ids) AS u(entry_id)
    JOIN ledger_entries e ON e.id = u.entry_id
    GROUP BY n.id, e.kind;
    RETURN NULL;
END
$$;
CREATE TRIGGER payouts_totals_insert AFTER INSERT ON payouts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION payout_totals_made();

-- The payouts made already, with no new one until this transaction commits.
LOCK TABLE payouts IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO payout_totals (payout_id, kind, amount, entries)
SELECT p.id, e.kind, sum(e.amount), count(*)
FROM payouts p
CROSS JOIN LATERAL unnest(p.entry_ids) AS u(entry_id)
JOIN ledger_entries e ON e.id = u.entry_id
GROUP BY p.id, e.kind;

-- What a statement prints of its entries' conversions (txid, goal, received_at, offer)
-- changes only by an UPDATE of those columns (a pixel's txid given up to a postback's)
-- or a DELETE: each such row counts once more for its affiliate here, so that a statement
-- drawn before (app/payouts/statement.py keeps the big ones' bytes) is known stale
-- without reading its conversions again. Status changes, the frequent writes, name
-- none of these columns and do not fire it.
CREATE TABLE statement_versions (
    affiliate_id bigint PRIMARY KEY,
    version      bigint NOT NULL
);
CREATE FUNCTION statement_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO statement_versions AS v (affiliate_id, version)
    SELECT DISTINCT a.id, 1
    FROM unnest(CASE TG_OP WHEN 'DELETE' THEN ARRAY[OLD.affiliate_id]
                           ELSE ARRAY[OLD.affiliate_id, NEW.affiliate_id] END) AS a(id)
    WHERE a.id IS NOT NULL
    ORDER BY a.id
    ON CONFLICT (affiliate_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER conversions_statement_update
    AFTER UPDATE OF txid, goal, received_at, offer_id, affiliate_id ON conversions
    FOR EACH ROW
    WHEN ((OLD.txid, OLD.goal, OLD.received_at, OLD.offer_id, OLD.affiliate_id)
          IS DISTINCT FROM (NEW.txid, NEW.goal, NEW.received_at, NEW.offer_id, NEW.affiliate_id))
    EXECUTE FUNCTION statement_version_bump();
CREATE TRIGGER conversions_statement_delete AFTER DELETE ON conversions
    FOR EACH ROW EXECUTE FUNCTION statement_version_bump();
