//! Provider error responses in the client's format, keeping the provider's status class and
//! message (instead of a generic 500) so SDK retry logic and users see what happened.

use bytes::Bytes;
use serde::Deserialize;

use crate::anthropic::{self, ErrorKind};
use crate::openai;

#[derive(Deserialize)]
struct OpenAiEnvelope {
    error: OpenAiDetail,
}

#[derive(Deserialize)]
struct OpenAiDetail {
    #[serde(default)]
    message: Option<String>,
}

#[derive(Deserialize)]
struct AnthropicEnvelope {
    error: AnthropicDetail,
}

#[derive(Deserialize)]
struct AnthropicDetail {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

fn fallback_message(status: u16) -> &'static str {
    if status >= 500 {
        "The upstream provider failed to process the request."
    } else {
        "The upstream provider refused the request."
    }
}

/// An OpenAI-compatible provider's error (`status`, `body`) as an Anthropic error response:
/// the status is kept, the type follows from it, the message is the provider's.
pub fn openai_error_to_anthropic(status: u16, body: &[u8]) -> (u16, Bytes) {
    let message = serde_json::from_slice::<OpenAiEnvelope>(body)
        .ok()
        .and_then(|e| e.error.message)
        .unwrap_or_else(|| fallback_message(status).to_owned());
    (
        status,
        anthropic::error_body(ErrorKind::from_status(status), &message),
    )
}

/// An Anthropic error (`status`, `body`) as an OpenAI error response. Anthropic's 529
/// (overloaded) becomes 503, the status OpenAI clients know for it (both are retried).
pub fn anthropic_error_to_openai(status: u16, body: &[u8]) -> (u16, Bytes) {
    let detail = serde_json::from_slice::<AnthropicEnvelope>(body)
        .ok()
        .map(|e| e.error);
    let kind = detail
        .as_ref()
        .and_then(|d| d.kind.as_deref())
        .and_then(ErrorKind::parse)
        .unwrap_or_else(|| ErrorKind::from_status(status));
    let message = detail
        .and_then(|d| d.message)
        .unwrap_or_else(|| fallback_message(status).to_owned());
    let (status, kind_str, code) = match kind {
        ErrorKind::InvalidRequest => (status, "invalid_request_error", None),
        ErrorKind::Authentication => (status, "invalid_request_error", Some("invalid_api_key")),
        ErrorKind::Permission => (status, "invalid_request_error", Some("permission_denied")),
        ErrorKind::NotFound => (status, "invalid_request_error", Some("model_not_found")),
        ErrorKind::RequestTooLarge => (status, "invalid_request_error", Some("request_too_large")),
        ErrorKind::RateLimit => (status, "rate_limit_error", Some("rate_limit_exceeded")),
        ErrorKind::Api => (status, "server_error", None),
        ErrorKind::Overloaded => (503, "server_error", Some("overloaded")),
    };
    (status, openai::error_body(&message, kind_str, code, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn overloaded_anthropic_errors_reach_openai_clients_as_503() {
        let (status, body) = anthropic_error_to_openai(
            529,
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(status, 503);
        insta::assert_json_snapshot!(json(&body), @r#"
        {
          "error": {
            "code": "overloaded",
            "message": "Overloaded",
            "param": null,
            "type": "server_error"
          }
        }
        "#);
    }

    #[test]
    fn openai_rate_limits_reach_anthropic_clients_as_rate_limit_errors() {
        let (status, body) = openai_error_to_anthropic(
            429,
            br#"{"error":{"message":"Rate limit reached for requests","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(status, 429);
        insta::assert_json_snapshot!(json(&body), @r#"
        {
          "error": {
            "message": "Rate limit reached for requests",
            "type": "rate_limit_error"
          },
          "type": "error"
        }
        "#);
    }

    #[test]
    fn unreadable_bodies_still_give_a_well_formed_error() {
        let (status, body) = openai_error_to_anthropic(502, b"<html>bad gateway</html>");
        assert_eq!(status, 502);
        assert_eq!(json(&body)["error"]["type"], "api_error");
        let (status, body) = anthropic_error_to_openai(401, b"");
        assert_eq!(status, 401);
        assert_eq!(json(&body)["error"]["code"], "invalid_api_key");
    }
}
