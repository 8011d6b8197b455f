-- A price for reasoning tokens (a subset of output tokens), for providers that bill them apart.
-- NULL: reasoning tokens cost the output price, which is what every earlier version meant.
ALTER TABLE prices
    ADD COLUMN reasoning_micros bigint NULL,
    ADD CONSTRAINT prices_reasoning_check CHECK (reasoning_micros IS NULL OR reasoning_micros >= 0);
