-- Stats: top sub-ID reports for one affiliate ("top 20 sub1 over 7 days") read raw clicks,
-- since sub-IDs have too many distinct values for a rollup. The affiliate index now
-- carries what those reports read, so they are answered by index-only scans instead of
-- visiting every heap page of the partitions (the busiest affiliate's clicks are on
-- nearly all of them). sub1 only: it is the sub-ID networks rank by; sub2..sub5 and
-- source reports still read the heap.
DROP INDEX clicks_affiliate_idx;
CREATE INDEX clicks_affiliate_idx ON clicks (affiliate_id, clicked_at)
    INCLUDE (sub1, is_bot, is_unique, currency, offer_id);
