-- Endpoints billed by unit rather than (only) by token: images, speech, transcriptions,
-- moderations, rerank.
--
-- Prices per unit beside the token prices: pico-USD per image, per second of audio and per
-- search unit; micro-USD per million characters of speech input (= pico-USD per character, as
-- token prices are held). 0 for every version before this: those models were priced by token.
ALTER TABLE prices
    ADD COLUMN per_image_picos               bigint NOT NULL DEFAULT 0,
    ADD COLUMN per_million_characters_micros bigint NOT NULL DEFAULT 0,
    ADD COLUMN per_audio_second_picos        bigint NOT NULL DEFAULT 0,
    ADD COLUMN per_search_unit_picos         bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT prices_units_nonnegative_check CHECK (
        per_image_picos >= 0 AND per_million_characters_micros >= 0
        AND per_audio_second_picos >= 0 AND per_search_unit_picos >= 0);

-- Which unit a request was billed by besides its tokens, and how many: NULL for requests billed
-- by token only (chat, embeddings, and every row before this). The row's cost_picos already
-- includes them; these say what an invoice line must be checked against.
ALTER TABLE usage_ledger
    ADD COLUMN billed_unit  text   NULL,
    ADD COLUMN billed_units bigint NULL,
    ADD CONSTRAINT usage_ledger_billed_unit_check CHECK (
        billed_unit IS NULL AND billed_units IS NULL
        OR billed_unit IN ('image', 'character', 'audio_second', 'search_unit', 'request')
           AND billed_units >= 0);
