//! Bedrock errors: HTTP error bodies are `{"message": "..."}` with the error's type in the
//! `x-amzn-errortype` header (`ThrottlingException:http://internal.amazon.com/...`); in a
//! stream the same errors arrive as `exception` frames named in camelCase
//! (`throttlingException`) with the same `{"message"}` payload.

use serde::Deserialize;

/// The `message` of a Bedrock error body, if the body is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Body {
        #[serde(alias = "Message")]
        message: Option<String>,
    }
    serde_json::from_slice::<Body>(body).ok()?.message
}

/// The error type from an `x-amzn-errortype` header value (`ThrottlingException:http://...`
/// → `ThrottlingException`).
pub fn error_type(header: &str) -> &str {
    header.split(':').next().unwrap_or(header).trim()
}

/// Whether a Bedrock error message says the prompt does not fit the model's context window.
/// Bedrock answers these with `ValidationException` (400) and the model family's own wording:
/// Bedrock's "Input is too long for requested model.", Anthropic's "prompt is too long: N
/// tokens > M maximum", others' "too many input tokens" or "maximum context length".
pub fn is_context_length(message: &str) -> bool {
    const NEEDLES: [&str; 8] = [
        "input is too long",
        "too many input tokens",
        "prompt is too long",
        "maximum context length",
        "context length exceeded",
        "context window",
        "exceeds the maximum number of tokens",
        "input token count exceeds",
    ];
    let lower = message.to_ascii_lowercase();
    NEEDLES.iter().any(|n| lower.contains(n))
}

/// OpenAI `error.type` and `error.code` for a Bedrock error or exception type, in either
/// spelling (`ThrottlingException` or `throttlingException`).
pub fn openai_error_kind(error_type: &str) -> (&'static str, Option<&'static str>) {
    let t = error_type.to_ascii_lowercase();
    match t.as_str() {
        "throttlingexception" | "toomanyrequestsexception" => {
            ("rate_limit_error", Some("rate_limit_exceeded"))
        }
        "serviceunavailableexception" | "modelnotreadyexception" => {
            ("server_error", Some("service_unavailable"))
        }
        "validationexception" => ("invalid_request_error", None),
        "accessdeniedexception" | "unrecognizedclientexception" => {
            ("authentication_error", Some("upstream_auth"))
        }
        "resourcenotfoundexception" => ("invalid_request_error", Some("model_not_found")),
        "modeltimeoutexception" => ("server_error", Some("timeout")),
        // internalServerException, modelStreamErrorException, modelErrorException, unknown.
        _ => ("server_error", Some("upstream_error")),
    }
}
