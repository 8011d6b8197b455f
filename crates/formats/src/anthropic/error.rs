//! Anthropic-shaped errors: `{"type":"error","error":{"type":...,"message":...}}` as a response
//! body, and as the `error` event that ends a stream.

use bytes::Bytes;
use serde::Serialize;

use super::events::encode_event;
use crate::FormatError;

/// Anthropic's error types, each with the HTTP status Anthropic sends it with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidRequest,
    Authentication,
    Permission,
    NotFound,
    RequestTooLarge,
    RateLimit,
    Api,
    Overloaded,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimit => "rate_limit_error",
            ErrorKind::Api => "api_error",
            ErrorKind::Overloaded => "overloaded_error",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimit => 429,
            ErrorKind::Api => 500,
            ErrorKind::Overloaded => 529,
        }
    }

    /// The type Anthropic uses for `status` (any other 4xx is an invalid request, any other
    /// 5xx an API error; 503 is reported as overloaded, as Anthropic's SDKs treat both alike).
    pub fn from_status(status: u16) -> Self {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimit,
            503 | 529 => ErrorKind::Overloaded,
            s if s < 500 => ErrorKind::InvalidRequest,
            _ => ErrorKind::Api,
        }
    }

    /// Reads Anthropic's `error.type`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "invalid_request_error" => ErrorKind::InvalidRequest,
            "authentication_error" => ErrorKind::Authentication,
            "permission_error" => ErrorKind::Permission,
            "not_found_error" => ErrorKind::NotFound,
            "request_too_large" => ErrorKind::RequestTooLarge,
            "rate_limit_error" => ErrorKind::RateLimit,
            "api_error" => ErrorKind::Api,
            "overloaded_error" => ErrorKind::Overloaded,
            _ => return None,
        })
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

fn to_vec(kind: &str, message: &str) -> Vec<u8> {
    let env = Envelope {
        kind: "error",
        error: Detail { kind, message },
    };
    serde_json::to_vec(&env).unwrap_or_else(|_| {
        br#"{"type":"error","error":{"type":"api_error","message":"error"}}"#.to_vec()
    })
}

/// `{"type":"error","error":{"type":<kind>,"message":<message>}}`, the body of every Anthropic
/// error response (send it with `kind.status()`).
pub fn error_body(kind: ErrorKind, message: &str) -> Bytes {
    Bytes::from(to_vec(kind.as_str(), message))
}

/// The 400 body for a request this crate refused.
pub fn format_error_body(e: &FormatError) -> Bytes {
    error_body(ErrorKind::InvalidRequest, &e.to_string())
}

/// `event: error\ndata: {...}\n\n`: how an error reaches an Anthropic client once the stream
/// has started (the SDKs raise it).
pub fn stream_error_event(kind: ErrorKind, message: &str) -> Bytes {
    encode_event("error", &to_vec(kind.as_str(), message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(b: &[u8]) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn error_body_has_anthropics_shape_and_key_order() {
        let b = error_body(ErrorKind::Overloaded, "Overloaded");
        insta::assert_json_snapshot!(json(&b), @r#"
        {
          "error": {
            "message": "Overloaded",
            "type": "overloaded_error"
          },
          "type": "error"
        }
        "#);
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        );
        assert_eq!(ErrorKind::Overloaded.status(), 529);
    }

    #[test]
    fn format_errors_become_invalid_request_bodies() {
        let b = format_error_body(&FormatError::MissingParameter("max_tokens".into()));
        insta::assert_json_snapshot!(json(&b), @r#"
        {
          "error": {
            "message": "Missing required parameter: 'max_tokens'.",
            "type": "invalid_request_error"
          },
          "type": "error"
        }
        "#);
    }

    #[test]
    fn stream_error_is_one_named_sse_event() {
        let ev = stream_error_event(ErrorKind::Api, "Internal server error");
        let text = std::str::from_utf8(&ev).unwrap();
        assert_eq!(
            text,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}\n\n"
        );
    }

    #[test]
    fn statuses_and_kinds_agree() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::Permission,
            ErrorKind::NotFound,
            ErrorKind::RequestTooLarge,
            ErrorKind::RateLimit,
            ErrorKind::Api,
            ErrorKind::Overloaded,
        ] {
            assert_eq!(ErrorKind::from_status(kind.status()), kind);
            assert_eq!(ErrorKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ErrorKind::from_status(422), ErrorKind::InvalidRequest);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Api);
        assert_eq!(ErrorKind::from_status(503), ErrorKind::Overloaded);
    }
}
