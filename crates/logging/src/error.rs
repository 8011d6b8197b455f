//! The service's errors and the one place they become gRPC statuses.

use tollgate_store::StoreError;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The caller sent something unusable; the message names the field.
    #[error("{field}: {message}")]
    InvalidArgument {
        field: &'static str,
        message: &'static str,
    },
    /// Storing a batch failed; the edge counts it as dropped (logging is best-effort).
    #[error("writing request logs failed: {0}")]
    Write(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant's policy does not allow keeping content (stored responses are content).
    #[error("this tenant does not allow storing content, so responses are not stored")]
    ContentNotAllowed,
    #[error(transparent)]
    Server(#[from] tollgate_server::ServerError),
}

impl From<LoggingError> for Status {
    fn from(e: LoggingError) -> Self {
        match e {
            LoggingError::InvalidArgument { .. } => Status::invalid_argument(e.to_string()),
            LoggingError::ContentNotAllowed => Status::failed_precondition(e.to_string()),
            LoggingError::Write(inner) => {
                tracing::error!(error = %inner, "writing request logs failed");
                Status::unavailable("request logs could not be stored; retry later")
            }
            LoggingError::Store(inner) if inner.is_transient() => {
                tracing::warn!(error = %inner, "database unavailable");
                Status::unavailable("database unavailable; retry later")
            }
            // Never echo SQL or internals to the caller; the log has the detail.
            LoggingError::Store(inner) => {
                tracing::error!(error = %inner, "database error");
                Status::internal("internal error")
            }
            LoggingError::Server(inner) => {
                tracing::error!(error = %inner, "server error");
                Status::internal("internal error")
            }
        }
    }
}
