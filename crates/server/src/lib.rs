//! The chassis every Tollgate gRPC service stands on: one way to serve (health checking, W3C
//! trace-context extraction, a panic guard) and one way to hear a shutdown signal.
//!
//! It knows no service's business; services pass their tonic `Routes` in and a shutdown future,
//! so tests drive them on port 0 and stop them at will.

mod grpc;
mod signal;

pub use grpc::{ServerError, serve_grpc};
pub use signal::shutdown_signal;
