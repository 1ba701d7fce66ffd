-- Offer targeting (issue 16): the countries (ISO 3166-1 alpha-2) a click may come from,
-- or may not when country_mode is 'block', and the devices it may come from; an empty
-- list lets every click through. A click outside goes to the fallback, stored with
-- diverted = 'targeting_country' or 'targeting_device'. Constant defaults: the columns
-- are added without rewriting the table.
ALTER TABLE offers
    ADD COLUMN targeting_countries text[] NOT NULL DEFAULT '{}',
    ADD COLUMN targeting_country_mode text NOT NULL DEFAULT 'allow'
        CHECK (targeting_country_mode IN ('allow', 'block')),
    ADD COLUMN targeting_devices text[] NOT NULL DEFAULT '{}'
        CHECK (targeting_devices <@ ARRAY['desktop', 'mobile', 'tablet']::text[]);
