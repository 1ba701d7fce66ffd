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
