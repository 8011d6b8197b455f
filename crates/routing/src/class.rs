//! Failure classes: what kind of trouble an attempt met, which decides whether it is retried
//! and which fallback models it may lead to. A provider's 4xx is read to tell a prompt too long
//! for the model, or a content policy refusal, from an ordinary bad request.

use tollgate_config::FallbackOn;

/// What kind of failure an attempt hit: decides retries and which fallbacks apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    RateLimit,
    Timeout,
    /// Connect errors, 5xx, broken streams, ejected deployments.
    ServerError,
    /// The deployment's key was refused (401/403).
    Credentials,
    ContextLength,
    ContentPolicy,
    /// No deployment of the model fits the request's preferences.
    NoMatch,
    /// The request itself is wrong: the same answer would come from anywhere.
    Request,
}

impl Class {
    /// The fallback class this failure triggers; `None` never falls back.
    pub(crate) fn fallback_on(self) -> Option<FallbackOn> {
        match self {
            Class::RateLimit => Some(FallbackOn::RateLimit),
            Class::Timeout => Some(FallbackOn::Timeout),
            Class::ServerError | Class::Credentials | Class::NoMatch => {
                Some(FallbackOn::ServerError)
            }
            Class::ContextLength => Some(FallbackOn::ContextLength),
            Class::ContentPolicy => Some(FallbackOn::ContentPolicy),
            Class::Request => None,
        }
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Class::RateLimit => "rate_limit",
            Class::Timeout => "timeout",
            Class::ServerError => "server_error",
            Class::Credentials => "credentials",
            Class::ContextLength => "context_length",
            Class::ContentPolicy => "content_policy",
            Class::NoMatch => "no_match",
            Class::Request => "request",
        }
    }
}

/// A 4xx that is the request's fault: is it the prompt's size, or a content policy refusal
/// (both worth a fallback model), or just a bad request?
pub(crate) fn request_class(body: &[u8]) -> Class {
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let err = v.get("error").unwrap_or(&v);
    let text = |k: &str| {
        err.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let (code, message) = (text("code"), text("message"));
    // Gemini refuses a bad key with a 400 INVALID_ARGUMENT, not a 401: still our key's fault.
    if message.contains("api key not valid") || message.contains("api_key_invalid") {
        Class::Credentials
    } else if code == "context_length_exceeded"
        || [
            "maximum context length",
            "context length",
            "context window",
            "too many tokens",
            // Gemini, Anthropic, Bedrock.
            "exceeds the maximum number of tokens",
            "prompt is too long",
            "input is too long",
            "too many input tokens",
        ]
        .iter()
        .any(|m| message.contains(m))
    {
        Class::ContextLength
    } else if ["content_filter", "content_policy_violation"].contains(&code.as_str())
        || [
            "content policy",
            "content management policy",
            "safety system",
        ]
        .iter()
        .any(|m| message.contains(m))
    {
        Class::ContentPolicy
    } else {
        Class::Request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_requests_are_told_apart_for_fallbacks() {
        let c = |b: &str| request_class(b.as_bytes());
        assert_eq!(
            c(r#"{"error":{"message":"x","code":"context_length_exceeded"}}"#),
            Class::ContextLength
        );
        assert_eq!(
            c(r#"{"error":{"message":"This model's maximum context length is 8192 tokens"}}"#),
            Class::ContextLength
        );
        assert_eq!(
            c(r#"{"error":{"code":"content_filter"}}"#),
            Class::ContentPolicy
        );
        assert_eq!(
            c(r#"{"error":{"message":"bad temperature"}}"#),
            Class::Request
        );
        assert_eq!(c("<html>"), Class::Request);
        assert_eq!(Class::Request.fallback_on(), None);
    }
}
