-- API key lifecycle: expiry (rotation with overlap sets the old key's), the models a key may
-- use, and free-form metadata for the operator. None of this is read on the request path except
-- through the edge's in-memory snapshot.

ALTER TABLE api_keys
    -- NULL = never expires. The edge compares it with its clock in memory, so a key stops working
    -- at this instant without any notification.
    ADD COLUMN expires_at     timestamptz NULL,
    -- Public model names or aliases; empty = every model.
    ADD COLUMN allowed_models text[]      NOT NULL DEFAULT '{}',
    -- A JSON object of string values, shown in list/get, never used for authentication.
    ADD COLUMN metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- The key this one replaced by rotation (for the audit trail).
    ADD COLUMN rotated_from   text        NULL,
    ADD CONSTRAINT api_keys_metadata_check CHECK (jsonb_typeof(metadata) = 'object'),
    ADD CONSTRAINT api_keys_allowed_models_check CHECK (cardinality(allowed_models) <= 256);
