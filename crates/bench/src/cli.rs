//! Command line: `tollgate-bench [--threads N] <saturate|rate|ttfb> --url URL ...`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::duration_arg;

#[derive(Debug, Parser)]
#[command(
    name = "tollgate-bench",
    version,
    about = "Bounded loopback HTTP load generator"
)]
pub struct Cli {
    /// Runtime worker threads; 1 runs everything on one thread.
    #[arg(long, global = true, default_value_t = 1)]
    pub threads: usize,
    #[command(subcommand)]
    pub mode: Mode,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Mode {
    /// Closed loop: each connection sends its next request as soon as the last one finished.
    Saturate(SaturateArgs),
    /// Open loop at a fixed rate; latency counts from each request's scheduled send time.
    Rate(RateArgs),
    /// Time to first body byte and to the full body, for streamed answers.
    Ttfb(TtfbArgs),
}

/// What to send. A body makes the default method POST (with `content-type: application/json`
/// unless a header says otherwise); without one it is GET.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// `http://` URL on a loopback address.
    #[arg(long)]
    pub url: String,
    /// Extra request header, `'name: value'`; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Request body, inline.
    #[arg(long, conflicts_with = "body_file")]
    pub body: Option<String>,
    /// Request body, from a file.
    #[arg(long)]
    pub body_file: Option<PathBuf>,
    /// HTTP method (default: POST with a body, GET without).
    #[arg(long)]
    pub method: Option<String>,
    /// Per-request limit; a request that takes longer counts as an error.
    #[arg(long, value_parser = duration_arg, default_value = "10s")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct SaturateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[arg(long, value_parser = duration_arg, default_value = "10s")]
    pub duration: Duration,
    /// Load sent before measuring starts (not counted).
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub warmup: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct RateArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Requests per second to schedule.
    #[arg(long, default_value_t = 1000.0)]
    pub rps: f64,
    #[arg(long, value_parser = duration_arg, default_value = "10s")]
    pub duration: Duration,
    /// Connections available; when all are busy, due requests wait (and count as late).
    #[arg(long, default_value_t = 128)]
    pub connections: usize,
    #[arg(long, value_parser = duration_arg, default_value = "0s")]
    pub warmup: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct TtfbArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long, default_value_t = 200)]
    pub requests: u64,
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
}
