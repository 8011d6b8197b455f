//! Gemini's error bodies: `{"error": {"code": 429, "message": "...", "status":
//! "RESOURCE_EXHAUSTED", "details": [...]}}` (Google's standard `google.rpc.Status` JSON). A
//! `streamGenerateContent` call without `alt=sse` wraps it in an array, which is read too.

use serde_json::Value;

/// `error` of a Gemini error body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GeminiError {
    pub(crate) code: u16,
    pub(crate) status: String,
    pub(crate) message: String,
}

impl GeminiError {
    pub(crate) fn from_value(v: &Value) -> Self {
        Self {
            code: v
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|c| u16::try_from(c).ok())
                .unwrap_or(0),
            status: v
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            message: v
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }
    }
}

/// `(code, status, message)` of a Gemini error body, e.g. `(429, "RESOURCE_EXHAUSTED",
/// "Resource has been exhausted (e.g. check quota).")`; `None` when the body is not one.
pub fn error_message(body: &[u8]) -> Option<(u16, String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let envelope = match &v {
        Value::Array(items) => items.first()?,
        other => other,
    };
    let e = GeminiError::from_value(envelope.get("error")?);
    Some((e.code, e.status, e.message))
}

/// Whether a Gemini error says the prompt is longer than the model's context window. Gemini
/// answers `400 INVALID_ARGUMENT` with "The input token count (1200293) exceeds the maximum
/// number of tokens allowed (1048576)." (the count is sometimes left out).
pub fn is_context_length(status_text: &str, message: &str) -> bool {
    if !status_text.is_empty() && status_text != "INVALID_ARGUMENT" {
        return false;
    }
    let m = message.to_ascii_lowercase();
    m.contains("input token count") && m.contains("exceeds the maximum")
}

/// OpenAI `error.type` and `error.code` for a Gemini status.
pub(crate) fn openai_kind(status: &str, message: &str) -> (&'static str, Option<&'static str>) {
    match status {
        "RESOURCE_EXHAUSTED" => ("rate_limit_error", Some("rate_limit_exceeded")),
        "INVALID_ARGUMENT" if is_context_length(status, message) => {
            ("invalid_request_error", Some("context_length_exceeded"))
        }
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            ("invalid_request_error", None)
        }
        "UNAUTHENTICATED" => ("invalid_request_error", Some("invalid_api_key")),
        "PERMISSION_DENIED" => ("invalid_request_error", Some("permission_denied")),
        "NOT_FOUND" => ("invalid_request_error", Some("model_not_found")),
        "UNAVAILABLE" => ("server_error", Some("overloaded")),
        _ => ("server_error", None),
    }
}
