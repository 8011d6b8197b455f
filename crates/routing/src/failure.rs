//! Turning what went wrong upstream into the `Failure` the edge shows the client: a kind, a
//! message safe to show (never a URL, key or internal address) and the provider's status.

use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use tollgate_proto::routing::v1::{Failure, FailureKind};

pub(crate) use crate::class::{Class, request_class};

/// Longest provider message relayed to a client.
const MAX_MESSAGE: usize = 1_000;

pub(crate) fn failure(kind: FailureKind, message: impl Into<String>) -> Failure {
    Failure {
        kind: kind as i32,
        message: message.into(),
        retry_after_ms: 0,
        upstream_status: 0,
    }
}

pub(crate) fn unknown_model(name: &str) -> Failure {
    failure(
        FailureKind::UnknownModel,
        format!("The model `{name}` does not exist or you do not have access to it."),
    )
}

pub(crate) fn not_allowed(name: &str) -> Failure {
    failure(
        FailureKind::ModelNotAllowed,
        format!("This API key is not allowed to use the model `{name}`."),
    )
}

pub(crate) fn timeout() -> Failure {
    failure(
        FailureKind::UpstreamTimeout,
        "The upstream provider did not answer in time.",
    )
}

pub(crate) fn unreachable() -> Failure {
    failure(
        FailureKind::UpstreamUnavailable,
        "The upstream provider could not be reached.",
    )
}

pub(crate) fn transport() -> Failure {
    failure(
        FailureKind::UpstreamError,
        "The connection to the upstream provider failed before it answered.",
    )
}

/// What the request's context lets us scrub from a provider's message.
pub(crate) struct Scrub<'a> {
    pub upstream_model: &'a str,
    pub public_model: &'a str,
    /// The provider key, in case a provider echoes it.
    pub secret: Option<&'a str>,
}

/// A non-2xx answer from the provider, before anything reached the client.
pub(crate) fn from_status(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    scrub: &Scrub<'_>,
) -> Failure {
    let code = status.as_u16();
    let mut f = match code {
        429 => {
            let mut f = failure(
                FailureKind::UpstreamRateLimited,
                "The upstream provider is rate limiting requests; retry later.",
            );
            f.retry_after_ms = retry_after_ms(headers);
            f
        }
        400 if request_class(body) == Class::Credentials => failure(
            FailureKind::UpstreamError,
            "The provider rejected the gateway's credentials.",
        ),
        400 | 413 | 422 => failure(
            if request_class(body) == Class::ContextLength {
                FailureKind::ContextLengthExceeded
            } else {
                FailureKind::InvalidRequest
            },
            provider_message(body)
                .map(|m| sanitize(&m, scrub))
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "The provider rejected the request as invalid.".into()),
        ),
        401 | 403 => failure(
            FailureKind::UpstreamError,
            "The provider rejected the gateway's credentials.",
        ),
        404 => failure(
            FailureKind::UpstreamError,
            "The provider does not serve this model at the configured address.",
        ),
        408 => timeout(),
        // Anthropic's "overloaded": the provider is up but shedding load, like a 503.
        529 => failure(
            FailureKind::UpstreamUnavailable,
            "The upstream provider is overloaded; retry shortly.",
        ),
        _ => failure(
            FailureKind::UpstreamError,
            format!("The upstream provider returned an error (HTTP {code})."),
        ),
    };
    f.upstream_status = u32::from(code);
    f
}

pub(crate) fn context_too_long(window: u64, prompt: u64) -> Failure {
    failure(
        FailureKind::ContextLengthExceeded,
        format!(
            "This model's maximum context length is {window} tokens, but the request has about {prompt}."
        ),
    )
}

pub(crate) fn no_match(model: &str) -> Failure {
    failure(
        FailureKind::InvalidRequest,
        format!(
            "No deployment of `{model}` matches this request's provider preferences or features."
        ),
    )
}

/// No deployment of `model` speaks `endpoint` (images asked of an Anthropic model).
pub(crate) fn unsupported_endpoint(model: &str, endpoint: tollgate_config::Endpoint) -> Failure {
    failure(
        FailureKind::UnsupportedEndpoint,
        format!(
            "The model `{model}` does not support {}: none of its providers serves it (only OpenAI-compatible ones do).",
            endpoint.route()
        ),
    )
}

pub(crate) fn ejected() -> Failure {
    failure(
        FailureKind::UpstreamUnavailable,
        "Every provider for this model is failing right now; retry shortly.",
    )
}

pub(crate) fn rate_limited(retry_after_ms: u64) -> Failure {
    let mut f = failure(
        FailureKind::UpstreamRateLimited,
        "The upstream provider is rate limiting requests; retry later.",
    );
    f.retry_after_ms = retry_after_ms;
    f.upstream_status = 429;
    f
}

/// `Retry-After` (seconds, possibly fractional) or `retry-after-ms`, in milliseconds.
pub(crate) fn retry_after_ms(headers: &HeaderMap) -> u64 {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    if let Some(ms) = header("retry-after-ms") {
        return ms.round() as u64;
    }
    header("retry-after").map_or(0, |s| (s * 1000.0).round() as u64)
}

/// The human message in a provider's error body: OpenAI's `{"error":{"message"}}`, vLLM's
/// `{"message"}`, FastAPI's `{"detail"}`.
fn provider_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        error: Option<Inner>,
        message: Option<String>,
        detail: Option<serde_json::Value>,
    }
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Inner {
        Object { message: Option<String> },
        Text(String),
    }
    let b: Body = serde_json::from_slice(body).ok()?;
    match b.error {
        Some(Inner::Object { message: Some(m) }) | Some(Inner::Text(m)) => Some(m),
        _ => b.message.or_else(|| match b.detail? {
            serde_json::Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }),
    }
}

/// A provider message made safe to show: URLs and anything key-like removed, the deployment's
/// model name replaced by the public one, bounded in length.
pub(crate) fn sanitize(message: &str, scrub: &Scrub<'_>) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_MESSAGE));
    for word in message.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        if scrub
            .secret
            .is_some_and(|s| !s.is_empty() && word.contains(s))
            || looks_secret(word)
        {
            out.push_str("[redacted]");
        } else if word.contains("://") {
            out.push_str("[url]");
        } else if !scrub.upstream_model.is_empty() && word.contains(scrub.upstream_model) {
            out.push_str(&word.replace(scrub.upstream_model, scrub.public_model));
        } else {
            out.push_str(word);
        }
        if out.len() >= MAX_MESSAGE {
            let mut cut = MAX_MESSAGE;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

/// Provider keys, our keys, organisation/project ids and long opaque tokens.
fn looks_secret(word: &str) -> bool {
    let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let prefixed = ["sk-", "tg-", "org-", "proj_", "key-", "AKIA", "Bearer"]
        .iter()
        .any(|p| w.starts_with(p) && w.len() > p.len() + 3);
    let opaque = w.len() >= 32
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    prefixed || opaque
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const SCRUB: Scrub<'static> = Scrub {
        upstream_model: "gpt-4o-2024-08-06",
        public_model: "gpt-4o",
        secret: Some("sk-live-abc123"),
    };

    #[test]
    fn provider_400_message_is_relayed_without_secrets_urls_or_deployment_names() {
        let body = br#"{"error":{"message":"Invalid 'messages[0].content' for gpt-4o-2024-08-06: see https://internal.example/docs key sk-live-abc123 org-AbCdEfGhIjKl","type":"invalid_request_error"}}"#;
        let f = from_status(StatusCode::BAD_REQUEST, &HeaderMap::new(), body, &SCRUB);
        assert_eq!(f.kind, FailureKind::InvalidRequest as i32);
        assert_eq!(f.upstream_status, 400);
        assert_eq!(
            f.message,
            "Invalid 'messages[0].content' for gpt-4o: see [url] key [redacted] [redacted]"
        );
    }

    #[test]
    fn other_error_shapes_are_understood() {
        let f = |b: &[u8]| from_status(StatusCode::BAD_REQUEST, &HeaderMap::new(), b, &SCRUB);
        assert_eq!(
            f(br#"{"object":"error","message":"too long"}"#).message,
            "too long"
        );
        assert_eq!(f(br#"{"detail":"bad field"}"#).message, "bad field");
        assert_eq!(f(br#"{"error":"plain"}"#).message, "plain");
        assert_eq!(
            f(b"<html>oops</html>").message,
            "The provider rejected the request as invalid."
        );
    }

    #[test]
    fn rate_limits_carry_retry_after_and_hide_the_providers_text() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("2"));
        let body =
            br#"{"error":{"message":"Rate limit reached in organization org-secret123456"}}"#;
        let f = from_status(StatusCode::TOO_MANY_REQUESTS, &h, body, &SCRUB);
        assert_eq!(f.kind, FailureKind::UpstreamRateLimited as i32);
        assert_eq!(f.retry_after_ms, 2_000);
        assert!(!f.message.contains("org-"));
        h.insert("retry-after-ms", HeaderValue::from_static("150"));
        assert_eq!(retry_after_ms(&h), 150);
        h.clear();
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after_ms(&h), 0);
    }

    #[test]
    fn credentials_and_server_errors_are_generic() {
        let secret_body = br#"{"error":{"message":"Incorrect API key provided: sk-live-abc123"}}"#;
        let f = from_status(
            StatusCode::UNAUTHORIZED,
            &HeaderMap::new(),
            secret_body,
            &SCRUB,
        );
        assert_eq!(f.kind, FailureKind::UpstreamError as i32);
        assert_eq!(
            f.message,
            "The provider rejected the gateway's credentials."
        );
        let f = from_status(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            secret_body,
            &SCRUB,
        );
        assert_eq!(
            f.message,
            "The upstream provider returned an error (HTTP 502)."
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let long = "é".repeat(2_000);
        let s = sanitize(&long, &SCRUB);
        assert!(s.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
