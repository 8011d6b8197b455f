//! The provider adapters' HTTP side: the request (to the deployment's URL with the provider's
//! auth header and static headers, all precomputed in the route table from the config and its
//! preset, over the deployment's pooled client), the provider's rate-limit headers, and the
//! upstream metrics.

use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};

use tollgate_proto::routing::v1::ChatCall;

use crate::route_table::Deployment;
use crate::sigv4;

/// Which of the deployment's endpoints a call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Stream,
    Embeddings,
    /// OpenAI's Responses API, streamed or not (one URL for both).
    Responses {
        stream: bool,
    },
    /// Images, speech, transcriptions, moderations, rerank.
    Other(tollgate_config::Endpoint),
}

/// POST the rewritten body with key `key`. Resolves at the response headers.
pub(crate) async fn send(
    dep: &Deployment,
    key: Option<usize>,
    body: Bytes,
    call: &ChatCall,
    endpoint: Endpoint,
) -> Result<reqwest::Response, reqwest::Error> {
    let request_id = call.request_id.as_str();
    let stream = matches!(
        endpoint,
        Endpoint::Stream | Endpoint::Responses { stream: true }
    );
    let url = match endpoint {
        Endpoint::Chat => dep.urls.chat.as_str(),
        Endpoint::Stream => dep.urls.stream.as_str(),
        Endpoint::Embeddings => dep.urls.embeddings.as_str(),
        Endpoint::Responses { .. } => dep.urls.responses.as_str(),
        // Only deployments that serve the endpoint are picked (`select`); an empty URL fails
        // the call as a transport error otherwise.
        Endpoint::Other(e) => dep.urls.other.get(&e).map_or("", String::as_str),
    };
    let accept = match (endpoint, stream, &dep.provider.aws) {
        // Audio (or whatever `response_format` asked for) comes back.
        (Endpoint::Other(tollgate_config::Endpoint::Speech), _, _) => "*/*",
        (_, true, Some(_)) => tollgate_formats::bedrock::EVENT_STREAM_CONTENT_TYPE,
        (_, true, None) => "text/event-stream",
        (_, false, _) => "application/json",
    };
    // A multipart upload keeps the client's content type: its boundary frames the body.
    let json = HeaderValue::from_static("application/json");
    let content_type = match call.content_type.as_str() {
        "" => json,
        ct => HeaderValue::from_str(ct).unwrap_or(json),
    };
    let mut req = dep
        .client
        .post(url)
        .header(CONTENT_TYPE, content_type)
        .header(ACCEPT, HeaderValue::from_static(accept));
    req = with_static_headers(req, dep);
    req = with_client_headers(req, dep, call);
    if let Some(aws) = &dep.provider.aws {
        let signed = sigv4::sign(
            &aws.creds,
            &aws.region,
            "POST",
            url,
            &[("content-type", "application/json"), ("accept", accept)],
            &body,
            std::time::SystemTime::now(),
        );
        match signed {
            Ok(headers) => {
                for (name, value) in headers {
                    if let Ok(mut v) = HeaderValue::from_str(&value) {
                        v.set_sensitive(true);
                        req = req.header(name, v);
                    }
                }
            }
            // Unsigned, the call fails as a credentials error at the provider, which the
            // client sees as a 502; the reason stays in our log.
            Err(e) => tracing::warn!(error = %e, "a Bedrock request could not be signed"),
        }
    }
    let mut req = req.body(body);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        req = req.header("x-request-id", id);
    }
    if let Some(k) = key.and_then(|i| dep.keys.get(i)) {
        req = req.header(dep.provider.auth_header.clone(), k.auth.clone());
    }
    req.send().await
}

/// The provider's static headers (`anthropic-version`, configured ones), one by one: their
/// names and values are shared bytes, so this copies no map per call.
pub(crate) fn with_static_headers(
    mut req: reqwest::RequestBuilder,
    dep: &Deployment,
) -> reqwest::RequestBuilder {
    for (name, value) in &dep.provider.headers {
        req = req.header(name.clone(), value.clone());
    }
    req
}

/// The client's headers this provider takes (both the edge's list and the provider's named
/// them), after the static ones so a client's `anthropic-version` wins over the default.
fn with_client_headers(
    req: reqwest::RequestBuilder,
    dep: &Deployment,
    call: &ChatCall,
) -> reqwest::RequestBuilder {
    if call.client_headers.is_empty() {
        return req;
    }
    let mut taken = HeaderMap::new();
    for name in &dep.provider.forward {
        if let Some(v) = call.client_headers.get(name.as_str())
            && let Ok(v) = HeaderValue::from_str(v)
        {
            taken.insert(name.clone(), v);
        }
    }
    // `headers` replaces what is already set under the same names; `header` would append.
    if taken.is_empty() {
        req
    } else {
        req.headers(taken)
    }
}

/// The provider's own id for a call, from the header its kind answers with.
pub(crate) fn upstream_request_id(headers: &HeaderMap) -> Option<String> {
    [
        "x-request-id",
        "request-id",
        "x-amzn-requestid",
        "apim-request-id",
    ]
    .iter()
    .find_map(|h| headers.get(*h))
    .and_then(|v| v.to_str().ok())
    .filter(|v| !v.is_empty() && v.len() <= 256)
    .map(str::to_owned)
}

/// Remaining share of the provider's rate limit in ‰ and how long (ms) that holds, from
/// OpenAI's `x-ratelimit-{remaining,limit,reset}-{requests,tokens}` or Anthropic's
/// `anthropic-ratelimit-{requests,tokens}-{remaining,limit,reset}` (reset as an RFC 3339
/// time): the lowest of them.
pub(crate) fn headroom(headers: &HeaderMap) -> Option<(u32, u64)> {
    let openai = openai_headroom(headers);
    let anthropic = anthropic_headroom(headers);
    match (openai, anthropic) {
        (Some(a), Some(b)) => Some(if b.0 < a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// `(remaining, limit, reset)` header names, static so a response costs no allocation.
const ANTHROPIC_LIMITS: [[&str; 3]; 4] = [
    [
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-reset",
    ],
    [
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-reset",
    ],
    [
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-reset",
    ],
    [
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-reset",
    ],
];

fn anthropic_headroom(headers: &HeaderMap) -> Option<(u32, u64)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let num = |name: &str| text(name).and_then(|v| v.trim().parse::<u64>().ok());
    let mut best: Option<(u32, u64)> = None;
    for [remaining, limit, reset] in ANTHROPIC_LIMITS {
        let (Some(left), Some(limit)) = (num(remaining), num(limit)) else {
            continue;
        };
        if limit == 0 {
            continue;
        }
        let permille = u32::try_from(left.min(limit) * 1000 / limit).unwrap_or(1000);
        let ms = text(reset)
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t.trim()).ok())
            .map_or(1_000, |t| {
                let left = t.timestamp_millis() - chrono::Utc::now().timestamp_millis();
                u64::try_from(left.clamp(0, 60_000)).unwrap_or(1_000)
            });
        if best.is_none_or(|(p, _)| permille < p) {
            best = Some((permille, ms));
        }
    }
    best
}

fn openai_headroom(headers: &HeaderMap) -> Option<(u32, u64)> {
    let num = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let mut best: Option<(u32, u64)> = None;
    for kind in ["requests", "tokens"] {
        let (Some(left), Some(limit)) = (
            num(&format!("x-ratelimit-remaining-{kind}")),
            num(&format!("x-ratelimit-limit-{kind}")),
        ) else {
            continue;
        };
        if limit == 0 {
            continue;
        }
        let permille = u32::try_from(left.min(limit) * 1000 / limit).unwrap_or(1000);
        let reset = headers
            .get(format!("x-ratelimit-reset-{kind}"))
            .and_then(|v| v.to_str().ok())
            .and_then(parse_reset)
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(60));
        let ms = u64::try_from(reset.as_millis()).unwrap_or(60_000);
        if best.is_none_or(|(p, _)| permille < p) {
            best = Some((permille, ms));
        }
    }
    best
}

/// OpenAI's reset durations: `1s`, `6m0s`, `20ms`, `1h2m3.5s`, or plain seconds.
fn parse_reset(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_end..];
    }
    Duration::try_from_secs_f64(total).ok()
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
/// Also feeds the deployment's latency estimate.
pub(crate) fn record_ttfb(dep: &Deployment, ttfb: Duration) {
    dep.health.observe_ttft(ttfb, crate::health::now_ms());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headroom_is_the_tighter_of_requests_and_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(headroom(&h), None);
        for (k, v) in [
            ("x-ratelimit-limit-requests", "100"),
            ("x-ratelimit-remaining-requests", "50"),
            ("x-ratelimit-reset-requests", "6m0s"),
            ("x-ratelimit-limit-tokens", "10000"),
            ("x-ratelimit-remaining-tokens", "100"),
            ("x-ratelimit-reset-tokens", "1.5s"),
        ] {
            h.insert(k, HeaderValue::from_static(v));
        }
        assert_eq!(headroom(&h), Some((10, 1_500)));
        assert_eq!(parse_reset("6m0s"), Some(Duration::from_secs(360)));
        assert_eq!(parse_reset("20ms"), Some(Duration::from_millis(20)));
        assert_eq!(
            parse_reset("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_reset("soon"), None);
    }

    #[test]
    fn anthropic_rate_limit_headers_count_too() {
        let mut h = HeaderMap::new();
        let reset = (chrono::Utc::now() + chrono::Duration::seconds(10)).to_rfc3339();
        h.insert(
            "anthropic-ratelimit-requests-limit",
            HeaderValue::from_static("50"),
        );
        h.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from_static("1"),
        );
        h.insert(
            "anthropic-ratelimit-requests-reset",
            HeaderValue::from_str(&reset).unwrap(),
        );
        let (permille, ms) = headroom(&h).unwrap();
        assert_eq!(permille, 20);
        assert!((9_000..=10_000).contains(&ms), "{ms}");
        // With OpenAI's headers too, the tighter one wins.
        h.insert(
            "x-ratelimit-limit-requests",
            HeaderValue::from_static("100"),
        );
        h.insert(
            "x-ratelimit-remaining-requests",
            HeaderValue::from_static("1"),
        );
        assert_eq!(headroom(&h).unwrap().0, 10);
    }
}
