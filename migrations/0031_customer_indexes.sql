-- migrate: no-transaction
-- A customer's conversions (its totals, timeline and recurring count) and a coupon's use,
-- built concurrently so conversions go on meanwhile; a build that failed leaves an
-- invalid index behind, so a second run drops it first. The CHECK added NOT VALID in 0030
-- is validated here without blocking writes.
DROP INDEX CONCURRENTLY IF EXISTS conversions_customer_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversions_customer_idx
    ON conversions (customer_id, offer_id) INCLUDE (recurring_seq) WHERE customer_id IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS conversions_coupon_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS conversions_coupon_idx
    ON conversions (coupon_id) WHERE coupon_id IS NOT NULL;
ALTER TABLE conversions VALIDATE CONSTRAINT conversions_attributed_via_check;
