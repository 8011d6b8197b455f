-- Stored Responses API answers (`store: true`), owned by the logging service: the Response the
-- client received and the conversation's input items up to it, so `previous_response_id` and
-- `GET /v1/responses/{id}` work. Scoped by tenant; kept until `expires_at`
-- (`logging.responses_retention`), then purged by the logging service's housekeeping.
CREATE TABLE stored_responses (
    tenant_id   uuid        NOT NULL,
    id          text        NOT NULL,
    request_id  uuid        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    model       text        NOT NULL,
    response    jsonb       NOT NULL,
    input_items jsonb       NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX stored_responses_expiry ON stored_responses (expires_at);
