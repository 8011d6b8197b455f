//! The chassis every Tollgate gRPC service stands on: one way to serve (health checking, W3C
//! trace-context extraction, a panic guard, service authentication) and one way to hear a
//! shutdown signal. [`auth`] is also the calling side of service authentication, so every
//! client of a Tollgate service sends the credential every server checks.
//!
//! It knows no service's business; services pass their tonic `Routes` in and a shutdown future,
//! so tests drive them on port 0 and stop them at will.

pub mod auth;
pub mod connections;
mod grpc;
pub mod outbound;
mod signal;

pub use auth::{GrpcAuth, InternalKey, Role, ServiceCredential};
pub use grpc::{ServerError, serve_grpc, serve_grpc_watched};
pub use signal::shutdown_signal;
