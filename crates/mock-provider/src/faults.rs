//! The fault gate every dialect's routes share, split around their own key checks: a request
//! is counted and accepted (or hangs), time passes, then (after the key check) the provider may
//! fail anyway. `x-mock-latency-ms` and `x-mock-error-status` override the options for one
//! request.

use std::time::Duration;

use axum::http::HeaderMap;

use crate::options::MockOptions;
use crate::state::Shared;

pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.parse().ok()
}

/// Counts the request, then hangs or waits as the options (or the latency header) say.
pub(crate) async fn arrive(shared: &Shared, opts: &MockOptions, headers: &HeaderMap) {
    shared.count_request();
    if opts.hang {
        std::future::pending::<()>().await;
    }
    let latency = header_u64(headers, "x-mock-latency-ms")
        .map(Duration::from_millis)
        .unwrap_or(opts.latency);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// The error status this request fails with, if any: the one the header forces, else one drawn
/// at the configured error rate.
pub(crate) fn injected_status(
    shared: &Shared,
    opts: &MockOptions,
    headers: &HeaderMap,
) -> Option<u16> {
    let forced = header_u64(headers, "x-mock-error-status").and_then(|s| u16::try_from(s).ok());
    forced.or_else(|| {
        shared
            .draw_error(opts.error_rate)
            .then_some(opts.error_status)
    })
}
