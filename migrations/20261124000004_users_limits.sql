-- Users and limits at every scope.
--
-- A user belongs to one tenant (and optionally one of its teams); keys may be issued to a user,
-- and JWT callers are matched to users by `external_id` (the IdP's user claim). The ledger
-- already records `user_id` per row (text: a user's id, or a JWT caller's raw user claim when
-- no user row matches), so spend can be grouped by user without a schema change there.
--
-- `limits` holds requests/tokens per minute and concurrency per key, user, team or tenant,
-- optionally for one model. Edges load it into their snapshot and reload on NOTIFY, like keys.

CREATE TABLE users (
    id          uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    team_id     uuid        NULL,
    -- The IdP's stable user id (the JWT user claim), if the user signs in through one.
    external_id text        NULL,
    email       text        NULL,
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Set once: a disabled user's keys stop working on every edge within a second.
    disabled_at timestamptz NULL,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT users_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id),
    -- Target of api_keys' composite foreign key: a key's user must belong to the key's tenant.
    CONSTRAINT users_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT users_external_id_key UNIQUE (tenant_id, external_id),
    CONSTRAINT users_email_key UNIQUE (tenant_id, email),
    CONSTRAINT users_identity_check CHECK (
        (external_id IS NOT NULL AND external_id <> '') OR (email IS NOT NULL AND email <> ''))
);

CREATE INDEX users_tenant_created_idx ON users (tenant_id, created_at);

ALTER TABLE api_keys
    ADD COLUMN user_id uuid NULL,
    -- MATCH SIMPLE, like the team: a key with a user must name a user of the same tenant.
    ADD CONSTRAINT api_keys_user_fkey FOREIGN KEY (tenant_id, user_id)
        REFERENCES users (tenant_id, id);

CREATE TABLE limits (
    id          uuid        NOT NULL,
    tenant_id   uuid        NOT NULL,
    -- 'key' (scope_id = key_id), 'user' (user id), 'team' (team id), 'tenant' (tenant id).
    scope_kind  text        NOT NULL,
    scope_id    text        NOT NULL,
    -- NULL = all models of the scope; else a public model name with a counter of its own.
    model       text        NULL,
    -- NULL = the configured default for the scope; 0 = unlimited.
    rpm         integer     NULL,
    tpm         integer     NULL,
    concurrency integer     NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT limits_pkey PRIMARY KEY (id),
    CONSTRAINT limits_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT limits_scope_key UNIQUE NULLS NOT DISTINCT (tenant_id, scope_kind, scope_id, model),
    CONSTRAINT limits_scope_kind_check CHECK (scope_kind IN ('key', 'user', 'team', 'tenant')),
    CONSTRAINT limits_values_check CHECK (
        (rpm IS NULL OR rpm >= 0) AND (tpm IS NULL OR tpm >= 0)
        AND (concurrency IS NULL OR concurrency >= 0)),
    CONSTRAINT limits_model_check CHECK (model IS NULL OR model <> '')
);

-- Users and limits reach the edges with the key snapshot: the same notification reloads all.
CREATE TRIGGER users_notify
    AFTER INSERT OR UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_keys();

CREATE TRIGGER limits_notify
    AFTER INSERT OR UPDATE OR DELETE ON limits
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_keys();
