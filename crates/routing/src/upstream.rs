//! The OpenAI-compatible adapter's HTTP side: one pooled client, the request to
//! `{base_url}/chat/completions`, and the upstream metrics.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use tollgate_config::RoutingConfig;

use crate::RoutingError;
use crate::catalog::Deployment;

/// The one HTTP client every upstream call shares, so connections (and TLS sessions) are reused.
pub(crate) fn client(cfg: &RoutingConfig) -> Result<reqwest::Client, RoutingError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .connect_timeout(cfg.connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // Provider URLs come from admin config; a redirect elsewhere is not followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(RoutingError::HttpClient)
}

/// POST the rewritten body. Resolves at the response headers.
pub(crate) async fn send(
    http: &reqwest::Client,
    dep: &Deployment,
    body: Bytes,
    request_id: &str,
    stream: bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = http
        .post(&dep.provider.chat_url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        )
        .body(body);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        req = req.header("x-request-id", id);
    }
    if let Some(auth) = &dep.provider.auth {
        req = req.header(AUTHORIZATION, auth.clone());
    }
    req.send().await
}

/// `tollgate_upstream_requests_total{provider,status_class}`, once per attempt.
pub(crate) fn count(dep: &Deployment, status_class: &'static str) {
    metrics::counter!(
        "tollgate_upstream_requests_total",
        "provider" => dep.provider.name.clone(),
        "status_class" => status_class,
    )
    .increment(1);
}

/// `tollgate_upstream_ttfb_seconds{provider}`: request sent to first body byte.
pub(crate) fn record_ttfb(dep: &Deployment, ttfb: Duration) {
    metrics::histogram!("tollgate_upstream_ttfb_seconds", "provider" => dep.provider.name.clone())
        .record(ttfb.as_secs_f64());
}

pub(crate) fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

pub(crate) fn error_class(e: &reqwest::Error) -> &'static str {
    if e.is_connect() {
        "connect_error"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "transport_error"
    }
}
