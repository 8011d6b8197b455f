-- Tollgate's schema: tenants, teams and API keys (owned by billing), the versioned price catalog,
-- the usage ledger with its daily spend aggregates, and request logs partitioned by day.
--
-- Constraint names are spelled out because crates/store maps them to typed errors.
-- Ids are UUIDv7 made in Rust; money is integer pico-USD (bigint per row, numeric in sums).

-- ---------------------------------------------------------------------------------------------
-- Tenants, teams, keys
-- ---------------------------------------------------------------------------------------------

CREATE TABLE tenants (
    id          uuid        NOT NULL,
    name        text        NOT NULL,
    -- Store prompt and completion text in request logs. Off unless the tenant opts in.
    log_content boolean     NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_pkey PRIMARY KEY (id),
    CONSTRAINT tenants_name_key UNIQUE (name),
    CONSTRAINT tenants_name_check CHECK (name <> '')
);

CREATE TABLE teams (
    id         uuid        NOT NULL,
    tenant_id  uuid        NOT NULL,
    name       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_pkey PRIMARY KEY (id),
    CONSTRAINT teams_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    CONSTRAINT teams_tenant_id_name_key UNIQUE (tenant_id, name),
    -- Target of api_keys' composite foreign key: a key's team must belong to the key's tenant.
    CONSTRAINT teams_tenant_id_id_key UNIQUE (tenant_id, id),
    CONSTRAINT teams_name_check CHECK (name <> '')
);

CREATE TABLE api_keys (
    -- The public part of `tg-<key_id>-<secret>`; the secret itself is never stored.
    key_id            text        NOT NULL,
    tenant_id         uuid        NOT NULL,
    team_id           uuid        NULL,
    name              text        NOT NULL DEFAULT '',
    -- Lower-case hex HMAC-SHA256 of the whole key under the server pepper.
    key_hash          text        NOT NULL,
    -- 0 = the configured default.
    rpm_limit         integer     NOT NULL DEFAULT 0,
    concurrency_limit integer     NOT NULL DEFAULT 0,
    revoked_at        timestamptz NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_pkey PRIMARY KEY (key_id),
    CONSTRAINT api_keys_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id),
    -- MATCH SIMPLE: a key without a team is not checked; a key with one must name a team of the
    -- same tenant.
    CONSTRAINT api_keys_team_fkey FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id),
    CONSTRAINT api_keys_key_hash_check CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT api_keys_limits_check CHECK (rpm_limit >= 0 AND concurrency_limit >= 0)
);

CREATE INDEX api_keys_tenant_id_idx ON api_keys (tenant_id, created_at);

-- Every edge replica LISTENs on `tollgate_keys` and reloads its key snapshot on any change, so a
-- revoked key (or a tenant's changed privacy setting) is seen everywhere within a second.
CREATE FUNCTION tollgate_notify_keys() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    changed text;
BEGIN
    IF TG_TABLE_NAME = 'api_keys' THEN
        IF TG_OP = 'DELETE' THEN changed := OLD.key_id; ELSE changed := NEW.key_id; END IF;
    ELSE
        IF TG_OP = 'DELETE' THEN changed := OLD.id::text; ELSE changed := NEW.id::text; END IF;
    END IF;
    PERFORM pg_notify('tollgate_keys', changed);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_keys_notify
    AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_keys();

CREATE TRIGGER tenants_notify
    AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_keys();

-- ---------------------------------------------------------------------------------------------
-- Prices: versioned, so every ledger row names the exact price it was billed at.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE prices (
    model                text        NOT NULL,
    version              integer     NOT NULL,
    effective_from       timestamptz NOT NULL DEFAULT now(),
    -- Micro-USD per million tokens (= pico-USD per token).
    input_micros         bigint      NOT NULL,
    cached_input_micros  bigint      NOT NULL,
    cache_write_micros   bigint      NOT NULL,
    output_micros        bigint      NOT NULL,
    per_request_picos    bigint      NOT NULL,
    CONSTRAINT prices_pkey PRIMARY KEY (model, version),
    CONSTRAINT prices_version_check CHECK (version >= 1),
    CONSTRAINT prices_nonnegative_check CHECK (
        input_micros >= 0 AND cached_input_micros >= 0 AND cache_write_micros >= 0
        AND output_micros >= 0 AND per_request_picos >= 0)
);

-- ---------------------------------------------------------------------------------------------
-- Usage ledger: one row per admitted request, written at least once, stored exactly once.
-- ---------------------------------------------------------------------------------------------

-- No foreign keys: the ledger records facts the edge already admitted; a row must never be
-- refused (and its batch retried forever) because of the state of another table.
CREATE TABLE usage_ledger (
    request_id           uuid        NOT NULL,
    tenant_id            uuid        NOT NULL,
    team_id              uuid        NULL,
    key_id               text        NOT NULL,
    user_id              text        NULL,
    model                text        NOT NULL,
    deployment           text        NOT NULL,
    provider             text        NOT NULL,
    input_tokens         bigint      NOT NULL,
    output_tokens        bigint      NOT NULL,
    cached_input_tokens  bigint      NOT NULL,
    cache_write_tokens   bigint      NOT NULL,
    reasoning_tokens     bigint      NOT NULL,
    -- Exact cost in pico-USD at `price_version` of the model's price (NULL: no price known).
    cost_picos           bigint      NOT NULL,
    price_version        integer     NULL,
    http_status          integer     NOT NULL,
    outcome              text        NOT NULL,
    stream               boolean     NOT NULL,
    reported_by_provider boolean     NOT NULL,
    started_at           timestamptz NOT NULL,
    latency_ms           bigint      NOT NULL,
    recorded_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_ledger_pkey PRIMARY KEY (request_id),
    CONSTRAINT usage_ledger_outcome_check
        CHECK (outcome IN ('completed', 'failed', 'client_cancelled', 'rejected'))
);

CREATE INDEX usage_ledger_tenant_started_idx ON usage_ledger (tenant_id, started_at);
CREATE INDEX usage_ledger_tenant_key_started_idx ON usage_ledger (tenant_id, key_id, started_at);
CREATE INDEX usage_ledger_tenant_model_started_idx ON usage_ledger (tenant_id, model, started_at);
CREATE INDEX usage_ledger_tenant_team_started_idx ON usage_ledger (tenant_id, team_id, started_at)
    WHERE team_id IS NOT NULL;

-- Daily aggregates, updated in the same statement as the ledger insert and only for rows that
-- statement actually inserted, so a replayed batch changes nothing. Day is the UTC date of
-- started_at.
CREATE TABLE spend_daily (
    tenant_id           uuid    NOT NULL,
    team_id             uuid    NULL,
    key_id              text    NOT NULL,
    model               text    NOT NULL,
    day                 date    NOT NULL,
    requests            bigint  NOT NULL,
    input_tokens        numeric NOT NULL,
    output_tokens       numeric NOT NULL,
    cached_input_tokens numeric NOT NULL,
    cache_write_tokens  numeric NOT NULL,
    reasoning_tokens    numeric NOT NULL,
    cost_picos          numeric NOT NULL,
    CONSTRAINT spend_daily_key UNIQUE NULLS NOT DISTINCT (tenant_id, team_id, key_id, model, day)
);

CREATE INDEX spend_daily_tenant_day_idx ON spend_daily (tenant_id, day);

-- ---------------------------------------------------------------------------------------------
-- Request logs: partitioned by UTC day so retention drops whole tables instead of deleting rows.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE request_logs (
    request_id    uuid          NOT NULL,
    tenant_id     uuid          NOT NULL,
    team_id       uuid          NULL,
    key_id        text          NOT NULL,
    model         text          NOT NULL,
    deployment    text          NOT NULL,
    provider      text          NOT NULL,
    http_status   integer       NOT NULL,
    error_code    text          NULL,
    started_at    timestamptz   NOT NULL,
    latency_ms    bigint        NOT NULL,
    ttfb_ms       bigint        NOT NULL,
    input_tokens  bigint        NOT NULL,
    output_tokens bigint        NOT NULL,
    -- An estimate (the ledger in billing is authoritative).
    cost_usd      numeric       NULL,
    stream        boolean       NOT NULL,
    -- Only when the tenant allows content logging; secrets redacted before they get here.
    request_body  text          NULL,
    response_body text          NULL,
    recorded_at   timestamptz   NOT NULL DEFAULT now(),
    -- Includes the partition key, as Postgres requires; makes a retried log batch a no-op.
    CONSTRAINT request_logs_pkey PRIMARY KEY (request_id, started_at)
) PARTITION BY RANGE (started_at);

CREATE INDEX request_logs_tenant_started_idx ON request_logs (tenant_id, started_at);
CREATE INDEX request_logs_tenant_key_started_idx ON request_logs (tenant_id, key_id, started_at);

-- Safety net for rows whose day has no partition (outside the window the writer creates).
CREATE TABLE request_logs_default PARTITION OF request_logs DEFAULT;

-- Create the partition for one UTC day if it does not exist. Safe to call concurrently from
-- every logging replica: an advisory lock serialises creators, and rows that already landed in
-- the default partition for that day are moved into the new partition before it is attached.
-- Returns true when this call created the partition.
CREATE FUNCTION tollgate_ensure_log_partition(p_day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part text := 'request_logs_p' || to_char(p_day, 'YYYYMMDD');
    lo   timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    hi   timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('tollgate.request_logs.partitions', 0));
    IF to_regclass(format('%I', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE request_logs INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part);
    -- Lets ATTACH skip scanning the new table for rows outside the range.
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (started_at >= %L AND started_at < %L)',
                   part, part || '_range', lo, hi);
    EXECUTE format('WITH moved AS (DELETE FROM request_logs_default '
                   'WHERE started_at >= %L AND started_at < %L RETURNING *) '
                   'INSERT INTO %I SELECT * FROM moved', lo, hi, part);
    EXECUTE format('ALTER TABLE request_logs ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
    RETURN true;
END;
$$;

-- Drop every daily partition entirely before `p_cutoff` (a UTC date), and delete rows older
-- than it from the default partition. Returns the number of partitions dropped.
CREATE FUNCTION tollgate_drop_log_partitions_before(p_cutoff date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    part    text;
    dropped integer := 0;
    cutoff  timestamptz := p_cutoff::timestamp AT TIME ZONE 'UTC';
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('tollgate.request_logs.partitions', 0));
    FOR part IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'request_logs'::regclass
          AND c.relname ~ '^request_logs_p[0-9]{8}$'
          AND to_date(substr(c.relname, 15), 'YYYYMMDD') < p_cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', part);
        dropped := dropped + 1;
    END LOOP;
    DELETE FROM request_logs_default WHERE started_at < cutoff;
    RETURN dropped;
END;
$$;
