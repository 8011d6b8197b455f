//! Reading what routing needs out of OpenAI chat responses and stream chunks: usage, whether a
//! chunk carries only usage, how much output it delivered, and where its `model` value sits (so
//! it can be replaced without re-serialising the chunk).

use std::fmt;
use std::ops::Range;

use serde::de::{self, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use tollgate_domain::Usage;

use crate::FormatError;
use crate::json;

/// A `chat.completion` body, as routing sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompletionInfo {
    pub usage: Option<Usage>,
    /// Byte range of the top-level `model` string value, for [`super::replace_model`].
    pub model: Option<Range<usize>>,
    /// Bytes of generated content and tool-call arguments, for estimating output when the
    /// provider reports no usage.
    pub output_bytes: u64,
}

/// One `chat.completion.chunk` (the `data` of one SSE event).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChunkInfo {
    pub usage: Option<Usage>,
    /// `choices: []` with usage: the extra chunk `stream_options.include_usage` asks for, which a
    /// client that did not ask must not see.
    pub usage_only: bool,
    /// Choices whose delta carried content, reasoning, a refusal or tool-call data.
    pub output_deltas: u32,
    pub output_bytes: u64,
    pub model: Option<Range<usize>>,
    /// The chunk is an error object (`{"error": ...}`) a provider sent mid-stream.
    pub error: bool,
}

/// Read a `chat.completion` body.
pub fn inspect_completion(body: &[u8]) -> Result<CompletionInfo, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let view: ResponseView<'_> =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    Ok(CompletionInfo {
        usage: view.usage.map(UsageWire::into_usage),
        model: model_range(s, view.model),
        output_bytes: view.choices.map_or(0, |c| c.bytes),
    })
}

/// Read a `chat.completion.chunk`. Does not allocate.
pub fn inspect_chunk(data: &str) -> Result<ChunkInfo, FormatError> {
    json::require_object(data)?;
    let view: ResponseView<'_> =
        serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    let usage = view.usage.map(UsageWire::into_usage);
    let choices = view.choices.unwrap_or_default();
    Ok(ChunkInfo {
        usage_only: usage.is_some() && choices.count == 0,
        usage,
        output_deltas: choices.deltas,
        output_bytes: choices.bytes,
        model: model_range(data, view.model),
        error: view.error.is_some(),
    })
}

fn model_range(s: &str, model: Option<&RawValue>) -> Option<Range<usize>> {
    model
        .filter(|m| json::kind(m) == "a string")
        .and_then(|m| json::range_in(s, m.get()))
}

/// Average bytes per delta above which a stream is taken to batch several tokens per delta.
const BATCHED_BYTES_PER_DELTA: u64 = 8;

/// Output delivered so far in a stream, from the chunks seen. OpenAI sends one token per content
/// delta (about 4 bytes of text on average), so the delta count is the estimate; when deltas
/// carry far more than that on average, the provider batches tokens and bytes / 4 is closer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutputMeter {
    deltas: u64,
    bytes: u64,
}

impl OutputMeter {
    pub fn add_chunk(&mut self, chunk: &ChunkInfo) {
        self.deltas += u64::from(chunk.output_deltas);
        self.bytes += chunk.output_bytes;
    }

    pub fn add_bytes(&mut self, bytes: u64) {
        self.bytes += bytes;
    }

    pub fn tokens(&self) -> u64 {
        if self.bytes > self.deltas.saturating_mul(BATCHED_BYTES_PER_DELTA) {
            self.bytes.div_ceil(4)
        } else {
            self.deltas
        }
    }
}

#[derive(Deserialize)]
struct ResponseView<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(default)]
    choices: Option<ChoicesSummary>,
    #[serde(default)]
    usage: Option<UsageWire>,
    #[serde(default)]
    error: Option<IgnoredAny>,
}

/// OpenAI's usage object (and the common extensions of compatible providers).
#[derive(Deserialize)]
struct UsageWire {
    #[serde(default)]
    prompt_tokens: Count,
    #[serde(default)]
    completion_tokens: Count,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's name for cached prompt tokens.
    #[serde(default)]
    prompt_cache_hit_tokens: Count,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Count,
}

#[derive(Deserialize)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Count,
}

impl UsageWire {
    fn into_usage(self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .map_or(0, |d| d.cached_tokens.0)
            .max(self.prompt_cache_hit_tokens.0);
        Usage {
            units: None,
            input_tokens: self.prompt_tokens.0,
            output_tokens: self.completion_tokens.0,
            cached_input_tokens: cached,
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .map_or(0, |d| d.reasoning_tokens.0),
        }
    }
}

/// A token count that tolerates what compatible servers send: null, floats (`12.0`), negatives.
#[derive(Clone, Copy, Default)]
struct Count(u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Count, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).unwrap_or(0)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                // `as` saturates and maps NaN to 0, which is what a bogus count deserves.
                Ok(Count(v.round() as u64))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// The `choices` array reduced to counts while it is parsed, so no `Vec` is built per chunk.
#[derive(Default)]
struct ChoicesSummary {
    count: u32,
    deltas: u32,
    bytes: u64,
}

impl<'de> Deserialize<'de> for ChoicesSummary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ChoicesSummary;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of choices")
            }
            fn visit_unit<E: de::Error>(self) -> Result<ChoicesSummary, E> {
                Ok(ChoicesSummary::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ChoicesSummary, A::Error> {
                let mut sum = ChoicesSummary::default();
                while let Some(choice) = seq.next_element::<ChoiceView<'de>>()? {
                    sum.count = sum.count.saturating_add(1);
                    let out = choice
                        .delta
                        .or(choice.message)
                        .map_or(0, |m| m.output_bytes());
                    if out > 0 {
                        sum.deltas = sum.deltas.saturating_add(1);
                        sum.bytes += out;
                    }
                }
                Ok(sum)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
struct ChoiceView<'a> {
    #[serde(borrow, default)]
    delta: Option<MessageView<'a>>,
    #[serde(borrow, default)]
    message: Option<MessageView<'a>>,
}

/// The output-carrying fields of a delta or message, as raw JSON (length is all we need).
#[derive(Deserialize)]
struct MessageView<'a> {
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(borrow, default)]
    reasoning: Option<&'a RawValue>,
    #[serde(borrow, default)]
    refusal: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tool_calls: Option<&'a RawValue>,
}

impl MessageView<'_> {
    fn output_bytes(&self) -> u64 {
        let text = |r: Option<&RawValue>| {
            r.filter(|r| json::kind(r) == "a string")
                // Minus the two quotes; escapes make this a slight overestimate, which is fine.
                .map_or(0, |r| r.get().len().saturating_sub(2) as u64)
        };
        let tools = self
            .tool_calls
            .filter(|r| json::kind(r) == "an array")
            .map_or(0, |r| r.get().len().saturating_sub(2) as u64);
        text(self.content)
            + text(self.reasoning_content)
            + text(self.reasoning)
            + text(self.refusal)
            + tools
    }
}

#[cfg(test)]
#[path = "usage_tests.rs"]
mod tests;
