//! Anthropic usage into [`tollgate_domain::Usage`], from a response body or accumulated over a
//! stream's events.
//!
//! Anthropic's `input_tokens` EXCLUDES `cache_read_input_tokens` and
//! `cache_creation_input_tokens`; Tollgate's convention counts every prompt token in
//! `input_tokens`, so the conversion adds them (and reports them as the cached and cache-write
//! subsets). Getting this wrong bills a cached prompt as if it were almost empty.

use serde::Deserialize;
use tollgate_domain::Usage;

use super::events::DeltaUsage;
use super::model::MessagesUsage;
use crate::FormatError;
use crate::json;

impl MessagesUsage {
    /// In Tollgate's convention (cache tokens inside `input_tokens`).
    pub fn to_usage(&self) -> Usage {
        convert(
            self.input_tokens,
            self.output_tokens,
            self.cache_read_input_tokens.unwrap_or(0),
            self.cache_creation_input_tokens.unwrap_or(0),
        )
    }
}

fn convert(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Usage {
    Usage {
        units: None,
        input_tokens: input.saturating_add(cache_read).saturating_add(cache_write),
        output_tokens: output,
        cached_input_tokens: cache_read,
        cache_write_tokens: cache_write,
        // Anthropic bills thinking as output and does not report it separately.
        reasoning_tokens: 0,
    }
}

/// Only the counts; tolerant of everything else in the body.
#[derive(Default, Deserialize)]
struct UsageView {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ResponseView {
    #[serde(default)]
    usage: Option<UsageView>,
}

/// The usage of a non-streaming Messages response body; `None` when it reports none.
pub fn usage_from_response(body: &[u8]) -> Result<Option<Usage>, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let view: ResponseView =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    Ok(view.usage.map(|u| {
        convert(
            u.input_tokens.unwrap_or(0),
            u.output_tokens.unwrap_or(0),
            u.cache_read_input_tokens.unwrap_or(0),
            u.cache_creation_input_tokens.unwrap_or(0),
        )
    }))
}

/// What one stream event's `data` told us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventInfo {
    /// Bytes of generated text, thinking or tool input in a `content_block_delta`.
    pub output_bytes: u64,
    /// The event is `error`.
    pub error: bool,
    /// The event is `message_stop`: the stream ended properly.
    pub stop: bool,
}

#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    message: Option<ResponseView>,
    #[serde(default)]
    usage: Option<UsageView>,
    #[serde(default, borrow)]
    delta: Option<DeltaView<'a>>,
}

#[derive(Deserialize)]
struct DeltaView<'a> {
    #[serde(default, borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<std::borrow::Cow<'a, str>>,
}

/// Usage over a stream: `message_start` carries the input counts (and an initial output count),
/// `message_delta` the cumulative output (and, in newer API versions, cumulative input and cache
/// counts, which then replace `message_start`'s).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamUsage {
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    /// Any event reported usage.
    seen: bool,
    /// Output bytes delivered, to estimate output when the stream is cut before `message_delta`.
    output_bytes: u64,
}

impl StreamUsage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads one event's `data` (the JSON after `data: `).
    pub fn observe(&mut self, data: &str) -> Result<EventInfo, FormatError> {
        json::require_object(data)?;
        let view: EventView<'_> =
            serde_json::from_str(data).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
        let mut info = EventInfo::default();
        match view.kind {
            "message_start" => {
                if let Some(u) = view.message.and_then(|m| m.usage) {
                    self.apply(&u);
                }
            }
            "message_delta" => {
                if let Some(u) = view.usage {
                    self.apply(&u);
                }
            }
            "content_block_delta" => {
                if let Some(d) = view.delta {
                    let len = |s: &Option<std::borrow::Cow<'_, str>>| {
                        s.as_ref().map_or(0, |s| s.len() as u64)
                    };
                    info.output_bytes = len(&d.text) + len(&d.partial_json) + len(&d.thinking);
                    self.output_bytes += info.output_bytes;
                }
            }
            "message_stop" => info.stop = true,
            "error" => info.error = true,
            _ => {}
        }
        Ok(info)
    }

    /// Applies a typed `message_delta` usage (for callers that already parsed the event).
    pub fn observe_delta(&mut self, u: &DeltaUsage) {
        self.apply(&UsageView {
            input_tokens: u.input_tokens,
            output_tokens: Some(u.output_tokens),
            cache_creation_input_tokens: u.cache_creation_input_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
        });
    }

    /// Applies a typed `message_start` usage.
    pub fn observe_start(&mut self, u: &MessagesUsage) {
        self.apply(&UsageView {
            input_tokens: Some(u.input_tokens),
            output_tokens: Some(u.output_tokens),
            cache_creation_input_tokens: u.cache_creation_input_tokens,
            cache_read_input_tokens: u.cache_read_input_tokens,
        });
    }

    fn apply(&mut self, u: &UsageView) {
        // Counts are cumulative: a later report replaces, never adds.
        if let Some(n) = u.input_tokens {
            self.input = n;
        }
        if let Some(n) = u.output_tokens {
            self.output = n;
        }
        if let Some(n) = u.cache_read_input_tokens {
            self.cache_read = n;
        }
        if let Some(n) = u.cache_creation_input_tokens {
            self.cache_write = n;
        }
        self.seen = true;
    }

    /// The usage reported so far, in Tollgate's convention; `None` if no event carried usage.
    pub fn usage(&self) -> Option<Usage> {
        self.seen
            .then(|| convert(self.input, self.output, self.cache_read, self.cache_write))
    }

    /// Bytes of output seen in deltas (divide by 4 for a token estimate).
    pub fn output_bytes(&self) -> u64 {
        self.output_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_usage_adds_cache_tokens_into_input() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[],
            "model":"claude-sonnet-4-5","stop_reason":"end_turn","stop_sequence":null,
            "usage":{"input_tokens":21,"cache_creation_input_tokens":188086,
            "cache_read_input_tokens":0,"output_tokens":393,
            "cache_creation":{"ephemeral_5m_input_tokens":188086,"ephemeral_1h_input_tokens":0}}}"#;
        let u = usage_from_response(body).unwrap().unwrap();
        assert_eq!(
            u,
            Usage {
                units: None,
                input_tokens: 21 + 188_086,
                output_tokens: 393,
                cached_input_tokens: 0,
                cache_write_tokens: 188_086,
                reasoning_tokens: 0,
            }
        );
        let typed: super::super::MessagesResponse = serde_json::from_slice(body).unwrap();
        assert_eq!(typed.usage.to_usage(), u);
        assert_eq!(usage_from_response(br#"{"id":"x"}"#).unwrap(), None);
    }

    #[test]
    fn stream_usage_takes_input_from_start_and_cumulative_output_from_delta() {
        let mut s = StreamUsage::new();
        let events = [
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":1000,"output_tokens":1}}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        ];
        for e in events {
            assert!(!s.observe(e).unwrap().stop);
        }
        assert!(s.observe(r#"{"type":"message_stop"}"#).unwrap().stop);
        assert_eq!(
            s.usage(),
            Some(Usage {
                units: None,
                input_tokens: 1025,
                output_tokens: 15,
                cached_input_tokens: 1000,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
            })
        );
        assert_eq!(s.output_bytes(), 5);
    }

    #[test]
    fn newer_message_delta_usage_replaces_start_counts() {
        let mut s = StreamUsage::new();
        s.observe(
            r#"{"type":"message_start","message":{"usage":{"input_tokens":10,"output_tokens":1}}}"#,
        )
        .unwrap();
        s.observe(r#"{"type":"message_delta","delta":{},"usage":{"input_tokens":12,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":40}}"#).unwrap();
        let u = s.usage().unwrap();
        assert_eq!(
            (
                u.input_tokens,
                u.cached_input_tokens,
                u.cache_write_tokens,
                u.output_tokens
            ),
            (47, 30, 5, 40)
        );
        assert!(
            s.observe(
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
            )
            .unwrap()
            .error
        );
        assert_eq!(StreamUsage::new().usage(), None);
    }
}
