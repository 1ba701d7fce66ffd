-- migrate: no-transaction
-- The link caches load what changed since their last read (app/redirect/cache.py): links
-- by their own updated_at, and the links of offers and affiliates changed since. Built
-- concurrently, so link writes go on meanwhile; a build that failed leaves an invalid
-- index behind, so a second run drops it first.
DROP INDEX CONCURRENTLY IF EXISTS links_updated_idx;
CREATE INDEX CONCURRENTLY IF NOT EXISTS links_updated_idx ON links (updated_at);
