-- The price catalog through the admin API: prices per deployment, scheduled prices, and budget
-- soft-limit alerts.
--
-- Versions stay numbered per model (across its deployments), so a ledger row's
-- (model, price_version) still names exactly one row here. The version billed is the one
-- effective at the request's start: the deployment's own price when it has one, else the
-- model's (deployment IS NULL).

ALTER TABLE prices
    -- NULL: the model's price; a name: the price of that deployment of the model only.
    ADD COLUMN deployment text        NULL,
    -- 'config' (loaded from the config file) or 'admin' (set through the admin API). Loading the
    -- config compares with the latest 'config' version only, so a restart never undoes an
    -- admin's price with an unchanged config.
    ADD COLUMN source     text        NOT NULL DEFAULT 'config',
    ADD COLUMN created_at timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT prices_source_check CHECK (source IN ('config', 'admin')),
    ADD CONSTRAINT prices_deployment_check CHECK (deployment IS NULL OR deployment <> '');

CREATE INDEX prices_model_effective_idx ON prices (model, effective_from);

-- Every edge and billing replica reloads its catalog when a price is added.
CREATE FUNCTION tollgate_notify_prices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tollgate_prices', NEW.model);
    RETURN NULL;
END;
$$;

CREATE TRIGGER prices_notify
    AFTER INSERT ON prices
    FOR EACH ROW EXECUTE FUNCTION tollgate_notify_prices();

-- Soft-limit alerts: fractions of the limit (e.g. {0.5,0.8,1.0}) that fire a webhook once per
-- period when settled spend first reaches them.
ALTER TABLE budgets
    ADD COLUMN alert_thresholds double precision[] NOT NULL DEFAULT '{}',
    ADD CONSTRAINT budgets_alert_thresholds_check
        CHECK (0 < ALL (alert_thresholds) AND 10 >= ALL (alert_thresholds));

-- One row per budget x period x threshold that fired: the primary key is what makes an alert
-- fire exactly once across edge replicas (the replica whose insert wins sends it).
CREATE TABLE budget_alerts (
    budget_id    uuid             NOT NULL,
    period_start timestamptz      NOT NULL,
    threshold    double precision NOT NULL,
    spent_picos  bigint           NOT NULL,
    fired_at     timestamptz      NOT NULL DEFAULT now(),
    delivered_at timestamptz      NULL,
    CONSTRAINT budget_alerts_pkey PRIMARY KEY (budget_id, period_start, threshold),
    CONSTRAINT budget_alerts_budget_fkey FOREIGN KEY (budget_id) REFERENCES budgets (id) ON DELETE CASCADE
);
