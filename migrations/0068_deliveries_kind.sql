-- migrate: no-transaction
-- Deliveries by kind in ID order (the deliveries list's `?kind=` filter, the portal's
-- /manage/deliveries?kind=webhook): without it the list walks the primary key through
-- every postback delivery to find a page of webhook ones. A failed concurrent build
-- leaves an invalid index, so it is dropped first.
DROP INDEX CONCURRENTLY IF EXISTS deliveries_kind_idx;
CREATE INDEX CONCURRENTLY deliveries_kind_idx ON deliveries (kind, id);
