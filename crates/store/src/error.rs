//! One error type for every repository, with constraint violations turned into typed causes so
//! services can answer `AlreadyExists` / `NotFound` without ever showing SQL to a caller.

/// What went wrong talking to Postgres.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL or options are unusable.
    #[error("database configuration: {0}")]
    Config(String),
    /// A unique constraint refused the row (`what` names the entity: "tenant", "team", "key").
    #[error("{what} already exists")]
    AlreadyExists { what: &'static str },
    /// The row, or a row it refers to, does not exist (or belongs to another tenant).
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A value the schema refuses (a check constraint, or a number out of range).
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: &'static str,
    },
    /// Postgres is unreachable, overloaded or asked us to retry (pool timeout, I/O, deadlock,
    /// serialization failure). Callers should retry later.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's schema is not the one this build was made for (see `schema.rs`).
    #[error("database schema mismatch: {0}")]
    Schema(#[from] crate::SchemaMismatch),
}

/// Entity named by each constraint this crate can violate (see `migrations/`).
fn entity(constraint: &str) -> &'static str {
    match constraint {
        "tenants_pkey"
        | "tenants_name_key"
        | "teams_tenant_id_fkey"
        | "api_keys_tenant_id_fkey"
        | "budgets_tenant_fkey" => "tenant",
        "budgets_pkey" | "budgets_scope_unique" => "budget",
        "teams_pkey" | "teams_tenant_id_name_key" | "api_keys_team_fkey" => "team",
        "api_keys_pkey" => "key",
        "prices_pkey" => "price",
        _ => "row",
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e),
            sqlx::Error::Configuration(inner) => StoreError::Config(inner.to_string()),
            sqlx::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or_default();
                if db.is_unique_violation() {
                    return StoreError::AlreadyExists {
                        what: entity(constraint),
                    };
                }
                if db.is_foreign_key_violation() {
                    return StoreError::NotFound {
                        what: entity(constraint),
                    };
                }
                if db.is_check_violation() {
                    return StoreError::Invalid {
                        field: constraint_field(constraint),
                        message: "refused by the schema",
                    };
                }
                match db.code().as_deref().map(|c| c.get(..2).unwrap_or(c)) {
                    // 08 connection exception, 53 insufficient resources, 57 operator
                    // intervention (shutdown), 40 transaction rollback (deadlock, serialization).
                    Some("08" | "53" | "57" | "40") => StoreError::Unavailable(e),
                    _ => StoreError::Database(e),
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

fn constraint_field(constraint: &str) -> &'static str {
    match constraint {
        "tenants_name_check" | "teams_name_check" => "name",
        "api_keys_key_hash_check" => "key_hash",
        "api_keys_limits_check" => "limits",
        "usage_ledger_outcome_check" => "outcome",
        "usage_ledger_billed_unit_check" => "billed_unit",
        "prices_nonnegative_check" | "prices_version_check" | "prices_units_nonnegative_check" => {
            "price"
        }
        "budgets_scope_check" => "scope",
        "budgets_period_check" => "period",
        "budgets_limit_check" => "limit",
        _ => "value",
    }
}

impl StoreError {
    /// Whether retrying later may succeed (the service answers `UNAVAILABLE`).
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}
