-- Stats: every tier is kept by the one trigger function of 0007 (stats_tier_fanout), in
-- place of the three written out in 0002/0004, 0005 and 0006. The tiers and their rows do
-- not change; what changes is that every tier now upserts in key order (two workers
-- touching the same rows wait for each other instead of deadlocking), skips a statement
-- with no rows, and that the daily links tier is fed from the links tier, whose rows are
-- already grouped without country and user agent.

DROP TRIGGER stats_rollup_fanout_insert ON stats_rollup;
DROP TRIGGER stats_rollup_fanout_update ON stats_rollup;
DROP TRIGGER stats_rollup_offer_country_insert ON stats_rollup;
DROP TRIGGER stats_rollup_offer_country_update ON stats_rollup;
DROP TRIGGER stats_rollup_links_insert ON stats_rollup;
DROP TRIGGER stats_rollup_links_update ON stats_rollup;
DROP FUNCTION stats_rollup_fanout();
DROP FUNCTION stats_rollup_offer_country();
DROP FUNCTION stats_rollup_links_fanout();

-- From stats_rollup (15 minutes, every dimension).
CREATE TRIGGER stats_hourly_insert AFTER INSERT ON stats_rollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_hourly', '1 hour',
                                       'affiliate_id, offer_id, link_id, country');
CREATE TRIGGER stats_hourly_update AFTER UPDATE ON stats_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_hourly', '1 hour',
                                       'affiliate_id, offer_id, link_id, country');
CREATE TRIGGER stats_daily_insert AFTER INSERT ON stats_rollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily', '1 day',
                                       'affiliate_id, offer_id, link_id, country');
CREATE TRIGGER stats_daily_update AFTER UPDATE ON stats_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily', '1 day',
                                       'affiliate_id, offer_id, link_id, country');
CREATE TRIGGER stats_daily_offer_country_insert AFTER INSERT ON stats_rollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily_offer_country', '1 day',
                                       'offer_id, country');
CREATE TRIGGER stats_daily_offer_country_update AFTER UPDATE ON stats_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily_offer_country', '1 day',
                                       'offer_id, country');
CREATE TRIGGER stats_links_insert AFTER INSERT ON stats_rollup
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_links', '15 minutes',
                                       'affiliate_id, offer_id, link_id');
CREATE TRIGGER stats_links_update AFTER UPDATE ON stats_rollup
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_links', '15 minutes',
                                       'affiliate_id, offer_id, link_id');

-- From stats_rollup_links (15 minutes, links only), beside its hourly and totals tiers.
CREATE TRIGGER stats_rollup_daily_links_insert AFTER INSERT ON stats_rollup_links
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily_links', '1 day',
                                       'affiliate_id, offer_id, link_id');
CREATE TRIGGER stats_rollup_daily_links_update AFTER UPDATE ON stats_rollup_links
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION stats_tier_fanout('stats_rollup_daily_links', '1 day',
                                       'affiliate_id, offer_id, link_id');
