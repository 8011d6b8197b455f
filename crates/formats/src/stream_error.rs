//! The event that ends a stream early, in the client's wire format: the one renderer the edge
//! (a broken routing stream, a budget running out mid-stream) and routing (a provider stream cut
//! after the first byte) share, so a client sees the same shape whichever side cut it.

use bytes::Bytes;

use crate::{anthropic, openai};

/// The wire format a stream speaks, as far as its error event goes (Gemini and Bedrock streams
/// reach clients translated into one of these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `data: {"error":{...}}` (Chat Completions and every OpenAI-shaped stream).
    OpenAi,
    /// `event: error` with Anthropic's error body (`/v1/messages`).
    Anthropic,
    /// The Responses API's `error` event (`/v1/responses`): `type`, `code`, `message`,
    /// `param`, `sequence_number`. The sequence number of an event the gateway adds is not
    /// known where it is rendered; it is written as 0.
    Responses,
}

/// Why the stream ended, in the two families clients tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The provider or the gateway failed mid-answer: OpenAI `server_error`, Anthropic
    /// `api_error`. Clients may retry.
    Server,
    /// A spending limit ended it: OpenAI `insufficient_quota`, Anthropic `rate_limit_error`
    /// (Anthropic has no budget type; the 429 family is the closest and the message says why).
    Quota,
}

/// The final SSE event of a stream that could not finish. `code` is the stable gateway code
/// (OpenAI clients read it as `error.code`; Anthropic's shape has no code field, so it is
/// carried by the type and the message).
pub fn stream_error_event(dialect: Dialect, class: ErrorClass, message: &str, code: &str) -> Bytes {
    match dialect {
        Dialect::OpenAi => {
            let kind = match class {
                ErrorClass::Server => "server_error",
                ErrorClass::Quota => "insufficient_quota",
            };
            openai::stream_error_event(message, kind, Some(code), None)
        }
        Dialect::Anthropic => {
            let kind = match class {
                ErrorClass::Server => anthropic::ErrorKind::Api,
                ErrorClass::Quota => anthropic::ErrorKind::RateLimit,
            };
            anthropic::stream_error_event(kind, message)
        }
        Dialect::Responses => {
            let body = serde_json::json!({
                "type": "error",
                "code": code,
                "message": message,
                "param": null,
                "sequence_number": 0,
            });
            anthropic::encode_event("error", body.to_string().as_bytes())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(event: &Bytes) -> serde_json::Value {
        let text = std::str::from_utf8(event).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn openai_streams_end_with_a_data_error_carrying_the_code() {
        let e = stream_error_event(Dialect::OpenAi, ErrorClass::Server, "cut", "upstream_error");
        assert!(e.starts_with(b"data: {") && e.ends_with(b"\n\n"));
        let v = data(&e);
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(v["error"]["code"], "upstream_error");
        assert_eq!(v["error"]["message"], "cut");
        let q = data(&stream_error_event(
            Dialect::OpenAi,
            ErrorClass::Quota,
            "spent",
            "budget_exceeded",
        ));
        assert_eq!(q["error"]["type"], "insufficient_quota");
        assert_eq!(q["error"]["code"], "budget_exceeded");
    }

    #[test]
    fn anthropic_streams_end_with_an_error_event_of_anthropics_types() {
        let e = stream_error_event(Dialect::Anthropic, ErrorClass::Server, "cut", "x");
        assert!(e.starts_with(b"event: error\n"));
        let v = data(&e);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "api_error");
        let q = data(&stream_error_event(
            Dialect::Anthropic,
            ErrorClass::Quota,
            "spent",
            "budget_exceeded",
        ));
        assert_eq!(q["error"]["type"], "rate_limit_error");
        assert_eq!(q["error"]["message"], "spent");
    }

    #[test]
    fn responses_streams_end_with_an_error_event_carrying_the_code() {
        let e = stream_error_event(
            Dialect::Responses,
            ErrorClass::Server,
            "cut",
            "upstream_error",
        );
        assert!(e.starts_with(b"event: error\ndata: {"));
        let v = data(&e);
        assert_eq!(v["type"], "error");
        assert_eq!(v["code"], "upstream_error");
        assert_eq!(v["message"], "cut");
        assert_eq!(v["sequence_number"], 0);
    }
}
