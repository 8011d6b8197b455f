//! `POST /v1/chat/completions`: request parsing, the deterministic token arithmetic and the
//! non-streaming `chat.completion` object.
//!
//! Token rules (documented so tests elsewhere can predict them):
//! prompt_tokens = sum over messages of (whitespace-separated words of all text content + 3) + 3;
//! the answer is `min(chunks, max_tokens)` words from a fixed lorem list, one word per token, and
//! `finish_reason` is `"length"` when `max_tokens` cut it short.

use std::borrow::Cow;
use std::fmt;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, MockError};

const LOREM: [&str; 32] = [
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
];

/// The text of content chunk `i`: one word, with a leading space after the first, so the chunks
/// concatenate to words separated by single spaces and each chunk is one token.
pub(crate) fn chunk_text(i: usize) -> (&'static str, &'static str) {
    let word = LOREM[i % LOREM.len()];
    (if i == 0 { "" } else { " " }, word)
}

/// What a chat request asks for, after validation.
pub(crate) struct ChatRequest<'a> {
    pub(crate) model: Cow<'a, str>,
    pub(crate) prompt_tokens: u64,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
}

#[derive(Deserialize)]
struct RawRequest<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(default)]
    messages: Option<Vec<RawMessage>>,
    #[serde(default)]
    max_tokens: Option<u64>,
    #[serde(default)]
    max_completion_tokens: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    content: Words,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// Counts whitespace-separated words in message content without building it: a string, an array
/// of parts (`{"type":"text","text":…}`; image and audio parts count nothing), or null.
#[derive(Default)]
struct Words(u64);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WordsVisitor)
    }
}

struct WordsVisitor;

impl<'de> Visitor<'de> for WordsVisitor {
    type Value = Words;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, an array of content parts, or null")
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Words, E> {
        Ok(Words(s.split_whitespace().count() as u64))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0))
    }

    fn visit_none<E: de::Error>(self) -> Result<Words, E> {
        Ok(Words(0))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
        let mut total = 0;
        while let Some(Words(n)) = seq.next_element()? {
            total += n;
        }
        Ok(Words(total))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Words, A::Error> {
        let mut total = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "text" {
                total += map.next_value::<Words>()?.0;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Words(total))
    }
}

/// Counts the words of free text the way prompts are counted (used by embeddings too).
pub(crate) fn count_words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

pub(crate) fn parse(body: &[u8]) -> Result<ChatRequest<'_>, ApiError> {
    let raw: RawRequest<'_> = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let Some(model) = raw.model else {
        return Err(ApiError::invalid_request(
            "you must provide a model parameter",
            None,
            None,
        ));
    };
    let Some(messages) = raw.messages else {
        return Err(ApiError::invalid_request(
            "Missing required parameter: 'messages'.",
            Some("messages"),
            Some("missing_required_parameter"),
        ));
    };
    if messages.is_empty() {
        return Err(ApiError::invalid_request(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got \
             an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    // OpenAI reads max_completion_tokens first; max_tokens is its deprecated spelling.
    let max_tokens = raw.max_completion_tokens.or(raw.max_tokens);
    if max_tokens == Some(0) {
        return Err(ApiError::invalid_request(
            "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got 0 \
             instead.",
            Some("max_tokens"),
            Some("integer_below_min_value"),
        ));
    }
    let prompt_tokens = messages.iter().map(|m| m.content.0 + 3).sum::<u64>() + 3;
    Ok(ChatRequest {
        model,
        prompt_tokens,
        max_tokens,
        stream: raw.stream.unwrap_or(false),
        include_usage: raw
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// How many tokens an answer gets and why it stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) completion_tokens: usize,
    pub(crate) finish_reason: &'static str,
}

impl Plan {
    pub(crate) fn new(chunks: usize, max_tokens: Option<u64>) -> Self {
        match max_tokens {
            Some(max) if (max as usize) < chunks => Self {
                completion_tokens: max as usize,
                finish_reason: "length",
            },
            _ => Self {
                completion_tokens: chunks,
                finish_reason: "stop",
            },
        }
    }
}

#[derive(Serialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) total_tokens: u64,
    pub(crate) prompt_tokens_details: PromptDetails,
    pub(crate) completion_tokens_details: CompletionDetails,
}

#[derive(Serialize)]
pub(crate) struct PromptDetails {
    cached_tokens: u64,
    audio_tokens: u64,
}

#[derive(Serialize)]
pub(crate) struct CompletionDetails {
    reasoning_tokens: u64,
    audio_tokens: u64,
    accepted_prediction_tokens: u64,
    rejected_prediction_tokens: u64,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens: 0,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: &'static str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    annotations: [(); 0],
}

pub(crate) const FINGERPRINT: &str = "fp_tollgate_mock";

/// The full `chat.completion` response for a non-streaming request.
pub(crate) fn completion(
    id: &str,
    created: u64,
    req: &ChatRequest<'_>,
    plan: Plan,
) -> Result<Response, MockError> {
    let mut content = String::with_capacity(plan.completion_tokens * 8);
    for i in 0..plan.completion_tokens {
        let (sep, word) = chunk_text(i);
        content.push_str(sep);
        content.push_str(word);
    }
    let body = Completion {
        id,
        object: "chat.completion",
        created,
        model: &req.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content: &content,
                refusal: None,
                annotations: [],
            },
            logprobs: None,
            finish_reason: plan.finish_reason,
        }],
        usage: Usage::new(req.prompt_tokens, plan.completion_tokens as u64),
        service_tier: "default",
        system_fingerprint: FINGERPRINT,
    };
    let mut buf = Vec::with_capacity(640 + content.len() + req.model.len());
    serde_json::to_writer(&mut buf, &body)?;
    let mut response = buf.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_tokens_follow_the_documented_rule() {
        let body = br#"{"model":"m","messages":[
            {"role":"system","content":"be brief"},
            {"role":"user","content":[{"type":"text","text":"hello  there world"},
                                      {"type":"image_url","image_url":{"url":"data:x"}}]},
            {"role":"assistant","content":null,"tool_calls":[]}]}"#;
        let req = parse(body).unwrap();
        assert_eq!(req.prompt_tokens, (2 + 3) + (3 + 3) + 3 + 3);
        assert!(!req.stream);
    }

    #[test]
    fn max_completion_tokens_wins_and_caps_the_plan() {
        let req = parse(br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":9,"max_completion_tokens":4}"#).unwrap();
        assert_eq!(req.max_tokens, Some(4));
        assert_eq!(
            Plan::new(16, req.max_tokens),
            Plan {
                completion_tokens: 4,
                finish_reason: "length"
            }
        );
        assert_eq!(
            Plan::new(16, Some(16)),
            Plan {
                completion_tokens: 16,
                finish_reason: "stop"
            }
        );
        assert_eq!(Plan::new(16, None).finish_reason, "stop");
    }

    #[test]
    fn chunks_concatenate_to_one_word_per_token() {
        let text: String = (0..40)
            .map(|i| {
                let (s, w) = chunk_text(i);
                format!("{s}{w}")
            })
            .collect();
        assert_eq!(count_words(&text), 40);
        assert!(text.starts_with("lorem ipsum dolor"));
    }

    #[test]
    fn missing_fields_and_bad_json_are_rejected() {
        assert!(parse(b"{not json").is_err());
        assert!(parse(br#"{"messages":[{"role":"user","content":"x"}]}"#).is_err());
        assert!(parse(br#"{"model":"m"}"#).is_err());
        assert!(parse(br#"{"model":"m","messages":[]}"#).is_err());
        assert!(parse(br#"{"model":"m","messages":"nope"}"#).is_err());
    }
}
