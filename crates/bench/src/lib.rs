//! `tollgate-bench`: the load generator behind Tollgate's performance budget ("through the
//! gateway" minus "straight to the mock provider", measured in the same run).
//!
//! Three modes: `saturate` (closed loop, one keep-alive connection per task), `rate` (open loop
//! on a fixed schedule, latency from each request's scheduled time, so no coordinated omission)
//! and `ttfb` (time to first body byte and to the full body of streamed answers).
//!
//! It must stay small and cheap, since it shares the machine's cores with what it measures; every
//! run stops by itself at its duration or request count; and it only ever targets loopback.

pub mod cli;
mod client;
mod duration;
mod error;
mod rate;
mod report;
mod saturate;
mod tally;
mod ttfb;

pub use cli::{Cli, Mode};
pub use error::BenchError;
pub use report::Report;

/// Runs one benchmark to completion inside the current tokio runtime.
pub async fn run(mode: Mode) -> Result<Report, BenchError> {
    match mode {
        Mode::Saturate(args) => saturate::run(args).await,
        Mode::Rate(args) => rate::run(args).await,
        Mode::Ttfb(args) => ttfb::run(args).await,
    }
}
