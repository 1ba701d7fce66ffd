-- Attribution keeps the click's dimensions on the conversion, so a later status change
-- moves its rollup counts in the same row the click and the first status went to,
-- without looking the click up again in its day partition.
ALTER TABLE conversions
    ADD COLUMN device           text,
    ADD COLUMN os               text,
    ADD COLUMN browser          text,
    -- The currency the advertiser sent `amount` in (conversions.currency is the offer's,
    -- which revenue and payout are in).
    ADD COLUMN amount_currency  char(3),
    -- When the advertiser sent the status in force (its receive time at intake). A status
    -- change is applied only when sent later than that, so postbacks that overtake each
    -- other (two workers, two stream shards, a retry) still end in the last status sent.
    ADD COLUMN status_at        timestamptz,
    -- Where the conversion came from: a server postback or a browser pixel.
    ADD COLUMN via              text NOT NULL DEFAULT 'postback'
                                CHECK (via IN ('postback', 'pixel'));

-- Conversion caps count per offer (and affiliate) and period.
CREATE INDEX conversions_offer_affiliate_idx ON conversions (offer_id, affiliate_id, created_at);
