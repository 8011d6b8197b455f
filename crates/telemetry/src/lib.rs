//! Observability for every Tollgate service: the tracing subscriber (JSON logs), OTLP span export
//! when an endpoint is configured, W3C trace-context propagation over gRPC metadata and HTTP
//! headers, and the Prometheus recorder.
//!
//! It owns no business logic and never records secrets: callers put ids in span fields, never
//! credentials.

mod init;
pub mod metrics;
pub mod propagation;

pub use init::{TelemetryError, TelemetryGuard, init};
