//! Errors of this crate, named by cause.

/// Why a [`crate::Limiter`] could not be built. Redis being down is not one of them: the
/// limiter then starts degraded and reconnects in the background.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// The URL did not parse. The URL itself is not repeated: it may hold a password.
    #[error("invalid Redis URL")]
    InvalidUrl(#[source] redis::RedisError),
    #[error("could not set up the Redis client")]
    Client(#[source] redis::RedisError),
    #[error("invalid limiter configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Why one Redis call failed; decides the label of the degraded metric.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("Redis did not answer in time")]
    Timeout,
    #[error("Redis call failed: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("unexpected reply from the admission script")]
    BadReply,
}

impl CallError {
    /// Low-cardinality label for metrics.
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            CallError::Timeout => "timeout",
            CallError::Redis(_) | CallError::BadReply => "error",
        }
    }
}
