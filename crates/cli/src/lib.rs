//! `tollgatectl`, the admin CLI of Tollgate.
//!
//! It owns the client side of the edge's admin HTTP API (`/admin/v1`: tenants, teams, keys, spend,
//! request logs) with its own serde types, the table renderings, `config check` (which loads a
//! file through `tollgate-config` exactly as the services do) and `migrate` (through
//! `tollgate-store`), and `health`, the probe the container images use (they ship no curl and no
//! grpc_health_probe), and `internal-token`, which mints a credential for calling the gRPC
//! services directly (through `tollgate-server`, the same code the services sign with).
//!
//! It must not print the admin token or the database URL anywhere (they are `SecretString`s and
//! hidden from `--help`), and prints a key's secret exactly once, when the key is created or rotated. It
//! holds no business logic: the server decides, the CLI asks and shows.

mod accounts;
pub mod api;
pub mod args;
mod check;
pub mod client;
pub mod commands;
pub mod error;
mod health;
mod internal_token;
mod keys;
mod migrate;
mod prices;
mod render;
mod table;
mod window;

pub use args::Cli;
pub use client::AdminClient;
pub use commands::{Output, run};
pub use error::CliError;
