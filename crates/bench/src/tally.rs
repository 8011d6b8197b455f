//! What one connection task measured (merged at the end, so tasks share nothing while running),
//! and one request/response exchange.

use std::time::Duration;

use hdrhistogram::Histogram;
use http_body_util::BodyExt;
use tokio::time::Instant;

use crate::client::{HttpClient, Target};
use crate::error::BenchError;

/// Highest latency a histogram holds (one hour, in microseconds); higher values are clamped.
const MAX_MICROS: u64 = 3_600_000_000;

pub(crate) fn histogram() -> Result<Histogram<u64>, BenchError> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).map_err(|e| BenchError::Histogram(e.to_string()))
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

pub(crate) struct Tally {
    /// Latency of successful requests, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Time to the first body byte (ttfb mode only), in microseconds.
    pub(crate) first_byte: Histogram<u64>,
    /// Requests that completed (or failed) inside the measured window.
    pub(crate) requests: u64,
    /// Non-2xx responses, transport failures and timeouts.
    pub(crate) errors: u64,
    pub(crate) bytes: u64,
    /// Open loop only: requests sent more than `LATE_AFTER` past their scheduled time.
    pub(crate) late: u64,
    /// Open loop only: scheduled requests never sent because the run hit its hard stop.
    pub(crate) dropped: u64,
    pub(crate) first_error: Option<String>,
}

impl Tally {
    pub(crate) fn new() -> Result<Self, BenchError> {
        Ok(Self {
            latency: histogram()?,
            first_byte: histogram()?,
            requests: 0,
            errors: 0,
            bytes: 0,
            late: 0,
            dropped: 0,
            first_error: None,
        })
    }

    pub(crate) fn ok(&mut self, latency: Duration, bytes: u64) {
        self.requests += 1;
        self.bytes += bytes;
        self.latency.saturating_record(micros(latency));
    }

    pub(crate) fn error(&mut self, message: String) {
        self.requests += 1;
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(message);
        }
    }

    pub(crate) fn merge(&mut self, other: Tally) -> Result<(), BenchError> {
        let hist = |e: hdrhistogram::errors::AdditionError| BenchError::Histogram(e.to_string());
        self.latency.add(&other.latency).map_err(hist)?;
        self.first_byte.add(&other.first_byte).map_err(hist)?;
        self.requests += other.requests;
        self.errors += other.errors;
        self.bytes += other.bytes;
        self.late += other.late;
        self.dropped += other.dropped;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }
}

/// Merges the tallies of every task.
pub(crate) async fn join_all(
    tasks: Vec<tokio::task::JoinHandle<Result<Tally, BenchError>>>,
) -> Result<Tally, BenchError> {
    let mut total = Tally::new()?;
    for task in tasks {
        total.merge(task.await??)?;
    }
    Ok(total)
}

/// A response read to its end.
pub(crate) struct Exchange {
    pub(crate) bytes: u64,
    pub(crate) first_byte: Option<Instant>,
}

/// Why an exchange failed.
pub(crate) enum Failure {
    Status(http::StatusCode),
    /// Connect, write or read failure, described with its causes.
    Transport(String),
}

impl Failure {
    pub(crate) fn describe(&self) -> String {
        match self {
            Failure::Status(s) => format!("HTTP {s}"),
            Failure::Transport(t) => t.clone(),
        }
    }
}

/// Sends one request and reads the whole body (counting it, not keeping it). Non-2xx statuses
/// and transport failures are errors.
pub(crate) async fn exchange(client: &HttpClient, target: &Target) -> Result<Exchange, Failure> {
    let response = client
        .request(target.request())
        .await
        .map_err(|e| Failure::Transport(describe(&e)))?;
    let status = response.status();
    let mut body = response.into_body();
    let mut bytes = 0;
    let mut first_byte = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Failure::Transport(describe(&e)))?;
        if let Some(data) = frame.data_ref() {
            if first_byte.is_none() && !data.is_empty() {
                first_byte = Some(Instant::now());
            }
            bytes += data.len() as u64;
        }
    }
    if !status.is_success() {
        return Err(Failure::Status(status));
    }
    Ok(Exchange { bytes, first_byte })
}

/// The error and its causes on one line ("client error (Connect): tcp connect error: ...").
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
