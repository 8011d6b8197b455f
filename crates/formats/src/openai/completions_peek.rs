//! The edge's one look at a legacy Completions request (`POST /v1/completions`): the fields
//! admission needs and a prompt size estimate, and the refusals of
//! [`crate::completions::refuse`] and [`crate::completions::prompt_text`] made before
//! admission, so a request chat cannot serve costs nothing. The body itself goes to routing
//! untouched (which translates it through the chat pivot).

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::peek::{opt_bool, opt_count};
use crate::FormatError;
use crate::completions::{DEFAULT_MAX_TOKENS, prompt_text, refuse};
use crate::json;

/// Framing tokens of the one user message the prompt becomes.
const MESSAGE_TOKENS: u64 = 4;

/// What the edge needs from a Completions request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletionsPeek {
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`, only ever true when `stream` is.
    pub include_usage: bool,
    /// `max_tokens`, or the legacy default of 16 the provider will be asked for.
    pub max_tokens: u64,
    /// Prompt bytes / 4 plus the message framing.
    pub prompt_tokens_estimate: u64,
}

#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream_options: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    prompt: Option<&'a RawValue>,
    #[serde(borrow, default)]
    suffix: Option<&'a RawValue>,
    #[serde(borrow, default)]
    echo: Option<&'a RawValue>,
    #[serde(borrow, default)]
    logprobs: Option<&'a RawValue>,
    #[serde(borrow, default)]
    best_of: Option<&'a RawValue>,
    #[serde(borrow, default)]
    n: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct StreamOptionsView<'a> {
    #[serde(borrow, default)]
    include_usage: Option<&'a RawValue>,
}

/// Peeks a Completions request. Refuses with a 400 what OpenAI refuses for these fields and
/// what chat cannot do (each naming its field); leaves the rest to routing.
pub fn peek_completions(body: &[u8]) -> Result<CompletionsPeek, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let view: View<'_> =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    let model = json::required_model(view.model)?;
    let prompt = value(view.prompt)?;
    let prompt_bytes = prompt_text(prompt.as_ref())?.len() as u64;
    for (field, raw) in [
        ("suffix", view.suffix),
        ("echo", view.echo),
        ("logprobs", view.logprobs),
        ("best_of", view.best_of),
        ("n", view.n),
    ] {
        refuse(field, value(raw)?.as_ref())?;
    }
    let stream = opt_bool(view.stream, "stream")?.unwrap_or(false);
    let include_usage = match view.stream_options.filter(|r| !json::is_null(r)) {
        None => false,
        Some(raw) if json::kind(raw) != "an object" => {
            return Err(FormatError::invalid_type(
                "stream_options",
                "an object",
                json::kind(raw),
            ));
        }
        Some(raw) => {
            let o: StreamOptionsView<'_> = serde_json::from_str(raw.get())
                .map_err(|e| FormatError::InvalidJson(e.to_string()))?;
            opt_bool(o.include_usage, "stream_options.include_usage")?.unwrap_or(false)
        }
    };
    Ok(CompletionsPeek {
        model,
        stream,
        include_usage: stream && include_usage,
        max_tokens: opt_count(view.max_tokens, "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS),
        prompt_tokens_estimate: prompt_bytes.div_ceil(4) + MESSAGE_TOKENS,
    })
}

fn value(raw: Option<&RawValue>) -> Result<Option<Value>, FormatError> {
    raw.map(|r| serde_json::from_str(r.get()))
        .transpose()
        .map_err(|e| FormatError::InvalidJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_prompt_gives_the_fields_admission_needs() {
        let p = peek_completions(
            br#"{"model":"m","prompt":"abcdefgh","stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        assert_eq!(p.model, "m");
        assert!(p.stream && p.include_usage);
        assert_eq!(p.max_tokens, DEFAULT_MAX_TOKENS);
        assert_eq!(p.prompt_tokens_estimate, 2 + MESSAGE_TOKENS);
        let p = peek_completions(
            br#"{"model":"m","prompt":["abcd"],"max_tokens":64,
            "stream_options":{"include_usage":true},"echo":false,"n":1,"best_of":1,"suffix":null}"#,
        )
        .unwrap();
        assert_eq!(p.max_tokens, 64);
        // Usage is a stream's chunk: without `stream` there is none to hold.
        assert!(!p.stream && !p.include_usage);
    }

    #[test]
    fn refusals_name_the_field() {
        let param = |body: &str| {
            peek_completions(body.as_bytes())
                .unwrap_err()
                .param()
                .map(str::to_owned)
        };
        assert_eq!(param(r#"{"prompt":"x"}"#).as_deref(), Some("model"));
        assert_eq!(param(r#"{"model":"m"}"#).as_deref(), Some("prompt"));
        assert_eq!(
            param(r#"{"model":"m","prompt":["a","b"]}"#).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":[1,2]}"#).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":[]}"#).as_deref(),
            Some("prompt")
        );
        assert_eq!(
            param(r#"{"model":"m","prompt":3}"#).as_deref(),
            Some("prompt")
        );
        for field in [
            r#""echo":true"#,
            r#""suffix":"end""#,
            r#""logprobs":2"#,
            r#""best_of":3"#,
            r#""n":2"#,
            r#""max_tokens":0"#,
            r#""stream":"yes""#,
            r#""stream_options":3"#,
        ] {
            let body = format!(r#"{{"model":"m","prompt":"x",{field}}}"#);
            let name = field.split('"').nth(1).unwrap();
            assert_eq!(param(&body).as_deref(), Some(name), "{body}");
        }
        assert!(peek_completions(b"[1]").is_err());
        assert!(peek_completions(b"\xff").is_err());
    }
}
