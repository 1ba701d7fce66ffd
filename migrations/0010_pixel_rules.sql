-- Pixel conversions and amount caps (issue 11): what a browser pixel may do on an offer,
-- the status its conversions start in, and the largest `amount` any conversion may carry.
ALTER TABLE offers
    -- 'auto': pixels count only when the advertiser neither signs its postbacks nor has an
    -- IP allowlist (a browser cannot pass either check); 'allow': always; 'deny': never.
    ADD COLUMN pixel_policy  text NOT NULL DEFAULT 'auto'
                             CHECK (pixel_policy IN ('auto', 'allow', 'deny')),
    ADD COLUMN pixel_status  text NOT NULL DEFAULT 'pending'
                             CHECK (pixel_status IN ('pending', 'approved')),
    -- NULL: no cap. A larger amount (postback or pixel) is stored rejected, reason 'amount'.
    ADD COLUMN max_amount    numeric(18, 4) CHECK (max_amount >= 0);
