//! The service's errors and the one place they become gRPC statuses.

use tollgate_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// The caller sent something unusable; the message names the field.
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    AlreadyExists(&'static str),
    /// Prices are loaded into memory at start; until then usage cannot be priced.
    #[error("the price catalog is not loaded yet")]
    PricesNotLoaded,
    /// Writing usage failed; the sender keeps the batch and retries.
    #[error("recording usage failed: {0}")]
    Ledger(#[source] StoreError),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Server(#[from] tollgate_server::ServerError),
}

impl BillingError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        BillingError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for BillingError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists { what } => BillingError::AlreadyExists(what),
            StoreError::NotFound { what } => BillingError::NotFound(what),
            StoreError::Invalid { field, message } => BillingError::invalid(field, message),
            other => BillingError::Store(other),
        }
    }
}

impl From<BillingError> for Status {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::InvalidArgument { .. } => Status::invalid_argument(e.to_string()),
            BillingError::NotFound(_) => Status::not_found(e.to_string()),
            BillingError::AlreadyExists(_) => Status::already_exists(e.to_string()),
            BillingError::PricesNotLoaded => Status::unavailable(e.to_string()),
            // Every ledger failure is worth a retry from the edge's durable spool: the write is
            // idempotent, so a retry can never count twice.
            BillingError::Ledger(inner) => {
                tracing::error!(error = %inner, "recording usage failed");
                Status::unavailable("usage could not be recorded; retry later")
            }
            BillingError::Store(inner) if inner.is_transient() => {
                tracing::warn!(error = %inner, "database unavailable");
                Status::unavailable("database unavailable; retry later")
            }
            // Never echo SQL or internals to the caller; the log has the detail.
            BillingError::Store(inner) => {
                tracing::error!(error = %inner, "database error");
                Status::internal("internal error")
            }
            BillingError::Server(inner) => {
                tracing::error!(error = %inner, "server error");
                Status::internal("internal error")
            }
        }
    }
}
