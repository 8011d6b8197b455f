//! OpenAI-shaped errors: the JSON body of an error response, and the SSE event OpenAI clients
//! read as an error in the middle of a stream.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::FormatError;

#[derive(Serialize)]
struct Envelope<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

fn to_vec(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> Vec<u8> {
    let env = Envelope {
        error: Detail {
            message,
            kind,
            param,
            code,
        },
    };
    // Serialising borrowed strings cannot fail; the fallback keeps this total anyway.
    serde_json::to_vec(&env).unwrap_or_else(|_| br#"{"error":{"message":"error"}}"#.to_vec())
}

/// `{"error":{"message","type","param","code"}}`, the body of every OpenAI error response.
/// `kind` is OpenAI's `type` (`invalid_request_error`, `rate_limit_error`, `server_error`, ...).
pub fn error_body(message: &str, kind: &str, code: Option<&str>, param: Option<&str>) -> Bytes {
    Bytes::from(to_vec(message, kind, code, param))
}

/// The 400 body for a request this crate refused.
pub fn format_error_body(e: &FormatError) -> Bytes {
    error_body(&e.to_string(), "invalid_request_error", e.code(), e.param())
}

/// `data: {"error":{...}}\n\n`: how an error reaches an OpenAI client after the stream started
/// (the SDKs raise it as an APIError instead of ending quietly).
pub fn stream_error_event(
    message: &str,
    kind: &str,
    code: Option<&str>,
    param: Option<&str>,
) -> Bytes {
    let json = to_vec(message, kind, code, param);
    let mut out = BytesMut::with_capacity(json.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(&json);
    out.put_slice(b"\n\n");
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty(b: &Bytes) -> serde_json::Value {
        serde_json::from_slice(b).unwrap()
    }

    #[test]
    fn error_body_has_openais_shape() {
        let b = error_body(
            "Rate limit reached for requests",
            "rate_limit_error",
            Some("rate_limit_exceeded"),
            None,
        );
        insta::assert_json_snapshot!(pretty(&b), @r#"
        {
          "error": {
            "code": "rate_limit_exceeded",
            "message": "Rate limit reached for requests",
            "param": null,
            "type": "rate_limit_error"
          }
        }
        "#);
        // Key order on the wire is OpenAI's: message, type, param, code.
        assert!(
            std::str::from_utf8(&b)
                .unwrap()
                .starts_with(r#"{"error":{"message":"Rate limit reached for requests","type":"rate_limit_error","param":null,"code""#)
        );
    }

    #[test]
    fn format_errors_become_400_bodies() {
        let b = format_error_body(&FormatError::MissingParameter("messages".into()));
        insta::assert_json_snapshot!(pretty(&b), @r#"
        {
          "error": {
            "code": "missing_required_parameter",
            "message": "Missing required parameter: 'messages'.",
            "param": "messages",
            "type": "invalid_request_error"
          }
        }
        "#);
        let b = format_error_body(&FormatError::MissingModel);
        insta::assert_json_snapshot!(pretty(&b), @r#"
        {
          "error": {
            "code": "missing_required_parameter",
            "message": "you must provide a model parameter",
            "param": "model",
            "type": "invalid_request_error"
          }
        }
        "#);
    }

    #[test]
    fn stream_error_event_is_one_sse_data_event() {
        let ev = stream_error_event(
            "The upstream provider closed the stream early.",
            "server_error",
            Some("upstream_error"),
            None,
        );
        let text = std::str::from_utf8(&ev).unwrap();
        assert!(text.starts_with("data: {\"error\":{"));
        assert!(text.ends_with("}}\n\n"));
        insta::assert_json_snapshot!(pretty(&Bytes::copy_from_slice(&ev[6..])), @r#"
        {
          "error": {
            "code": "upstream_error",
            "message": "The upstream provider closed the stream early.",
            "param": null,
            "type": "server_error"
          }
        }
        "#);
    }
}
