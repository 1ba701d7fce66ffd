-- Stats: top sub-ID reports for one affiliate ("top 20 sub1 over 7 days") read raw clicks,
-- since sub-IDs have too many distinct values for a rollup. An index on the affiliate that
-- carries what those reports read answers them by index-only scans instead of visiting
-- every heap page of the partitions (the busiest affiliate's clicks are on nearly all).
--
-- sub1 holds up to 1,024 characters, up to 4 kB of UTF-8: past btree's 2.7 kB limit on an
-- index row. So the covering index takes the clicks whose sub1 is at most 1,000 bytes
-- (nearly all), a small plain index the others, and reports read the two as one
-- (app/stats/queries.py, _CLICKS). sub1 only: it is the sub-ID networks rank by;
-- sub2..sub5 and source reports fetch their values from the heap.
--
-- Both are built under a lock that holds click inserts until the build ends (clicks wait
-- in the stream meanwhile; nothing is lost); the old index goes last, so reads are held
-- only for the moment of the drop.
CREATE INDEX clicks_affiliate_sub1_idx ON clicks (affiliate_id, clicked_at)
    INCLUDE (sub1, is_bot, is_unique, currency, offer_id)
    WHERE coalesce(octet_length(sub1), 0) <= 1000;
CREATE INDEX clicks_affiliate_long_sub1_idx ON clicks (affiliate_id, clicked_at)
    WHERE coalesce(octet_length(sub1), 0) > 1000;
DROP INDEX clicks_affiliate_idx;
