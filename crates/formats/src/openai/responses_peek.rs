//! The edge's one look at a Responses API request (`POST /v1/responses`): the fields admission
//! and routing need and a prompt size estimate, without building a `Value` tree. The body itself
//! goes to routing untouched (passed through to native deployments, translated for the rest).

use serde::Deserialize;
use serde::de::DeserializeSeed;
use serde_json::value::RawValue;

use super::peek::{IMAGE_TOKENS, TextSeed, TextSize, opt_bool, opt_count};
use crate::FormatError;
use crate::json;

/// Per-item framing tokens, as for chat messages.
const ITEM_TOKENS: u64 = 3;

/// What the edge needs from a Responses request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponsesPeek {
    pub model: String,
    pub stream: bool,
    pub max_output_tokens: Option<u64>,
    /// Whether the answer is to be stored (OpenAI's default: true).
    pub store: bool,
    pub previous_response_id: Option<String>,
    /// Text bytes / 4 of `input`, `instructions` and `tools`, plus a fixed cost per inline
    /// image and per input item.
    pub prompt_tokens_estimate: u64,
}

#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_output_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    store: Option<&'a RawValue>,
    #[serde(borrow, default)]
    previous_response_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    #[serde(borrow, default)]
    instructions: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tools: Option<&'a RawValue>,
}

/// Peeks a Responses request. Refuses with a 400 what OpenAI refuses for these fields (`model`
/// and `input` are required; `input` is a string or an array); leaves the rest to routing.
pub fn peek_responses(body: &[u8]) -> Result<ResponsesPeek, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let view: View<'_> =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    let model = json::required_model(view.model)?;
    let previous_response_id = match view.previous_response_id.filter(|r| !json::is_null(r)) {
        None => None,
        Some(raw) => Some(serde_json::from_str::<String>(raw.get()).map_err(|_| {
            FormatError::invalid_type("previous_response_id", "a string", json::kind(raw))
        })?),
    };
    let mut size = TextSize::default();
    let items = match view.input.filter(|r| !json::is_null(r)) {
        // A conversation continued from a stored response may send only the new turn; without
        // one, there must be something to answer.
        None if previous_response_id.is_some() => 0,
        None => return Err(FormatError::MissingParameter("input".into())),
        Some(raw) => match json::kind(raw) {
            "a string" => {
                measure(raw, &mut size)?;
                1
            }
            "an array" => {
                let items: Vec<&RawValue> = serde_json::from_str(raw.get())
                    .map_err(|e| FormatError::InvalidJson(e.to_string()))?;
                for item in &items {
                    measure(item, &mut size)?;
                }
                items.len() as u64
            }
            got => {
                return Err(FormatError::invalid_type(
                    "input",
                    "a string or an array",
                    got,
                ));
            }
        },
    };
    for raw in [view.instructions, view.tools].into_iter().flatten() {
        measure(raw, &mut size)?;
    }
    Ok(ResponsesPeek {
        model,
        stream: opt_bool(view.stream, "stream")?.unwrap_or(false),
        max_output_tokens: opt_count(view.max_output_tokens, "max_output_tokens")?,
        store: opt_bool(view.store, "store")?.unwrap_or(true),
        previous_response_id,
        prompt_tokens_estimate: size.bytes.div_ceil(4)
            + size.images * IMAGE_TOKENS
            + items * ITEM_TOKENS,
    })
}

fn measure(raw: &RawValue, size: &mut TextSize) -> Result<(), FormatError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    TextSeed(size)
        .deserialize(&mut de)
        .map_err(|e| FormatError::InvalidJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_is_one_item() {
        let p = peek_responses(br#"{"model":"m","input":"abcdefgh","stream":true}"#).unwrap();
        assert_eq!(p.model, "m");
        assert!(p.stream);
        assert!(p.store);
        assert_eq!(p.max_output_tokens, None);
        assert_eq!(p.prompt_tokens_estimate, 2 + ITEM_TOKENS);
    }

    #[test]
    fn items_instructions_and_images_count() {
        let body = br#"{"model":"m","instructions":"abcd","max_output_tokens":64,"store":false,
            "input":[{"role":"user","content":[{"type":"input_text","text":"abcd"},
            {"type":"input_image","image_url":"data:image/png;base64,AAAA"}]},
            {"type":"function_call_output","call_id":"c1","output":"abcd"}]}"#;
        let p = peek_responses(body).unwrap();
        assert_eq!(p.max_output_tokens, Some(64));
        assert!(!p.store);
        // Text: "abcd" x3 plus the short strings (role, types, call id) all count as bytes.
        assert!(p.prompt_tokens_estimate >= IMAGE_TOKENS + 2 * ITEM_TOKENS + 3);
    }

    #[test]
    fn refusals_name_the_field() {
        let e = peek_responses(br#"{"input":"x"}"#).unwrap_err();
        assert!(matches!(e, FormatError::MissingModel));
        let e = peek_responses(br#"{"model":"m"}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        let e = peek_responses(br#"{"model":"m","input":3}"#).unwrap_err();
        assert_eq!(e.param(), Some("input"));
        let e = peek_responses(br#"{"model":"m","input":"x","max_output_tokens":0}"#).unwrap_err();
        assert_eq!(e.param(), Some("max_output_tokens"));
        let e = peek_responses(br#"{"model":"m","input":"x","stream":"yes"}"#).unwrap_err();
        assert_eq!(e.param(), Some("stream"));
        assert!(peek_responses(b"[1]").is_err());
        assert!(peek_responses(b"\xff").is_err());
    }

    #[test]
    fn a_continued_conversation_may_omit_input() {
        let p = peek_responses(br#"{"model":"m","previous_response_id":"resp_1"}"#).unwrap();
        assert_eq!(p.previous_response_id.as_deref(), Some("resp_1"));
    }
}
