-- Budgets: spending limits per tenant, team or key over calendar periods in a time zone.
--
-- Enforcement happens at the edge (a reservation in Redis at admission, settled after the last
-- byte); this table is the definition, and the ledger is the truth the edge re-seeds from.

CREATE TABLE budgets (
    id               uuid        NOT NULL,
    tenant_id        uuid        NOT NULL,
    -- 'tenant' (scope_id = tenant id), 'team' (team id) or 'key' (key_id).
    scope            text        NOT NULL,
    scope_id         text        NOT NULL,
    -- Calendar-aligned: 'day', 'week' (from Monday) or 'month', in `timezone`.
    period           text        NOT NULL,
    -- An IANA zone name, checked against pg_timezone_names when the budget is created.
    timezone         text        NOT NULL DEFAULT 'UTC',
    limit_picos      bigint      NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budgets_pkey PRIMARY KEY (id),
    CONSTRAINT budgets_tenant_fkey FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT budgets_scope_unique UNIQUE (tenant_id, scope, scope_id, period),
    CONSTRAINT budgets_scope_check CHECK (scope IN ('tenant', 'team', 'key')),
    CONSTRAINT budgets_period_check CHECK (period IN ('day', 'week', 'month')),
    CONSTRAINT budgets_limit_check CHECK (limit_picos > 0)
);

-- Budgets reach the edges with the key snapshot: the same notification reloads both.
CREATE TRIGGER budgets_notify
    AFTER INSERT OR UPDATE OR DELETE ON budgets
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_keys();
