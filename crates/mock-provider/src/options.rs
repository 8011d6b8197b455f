//! The knobs of the mock (`MockOptions`) and what it counted (`MockStats`).
//!
//! One struct serves three audiences: Rust tests (`MockServer::set_options`), the binary's flags
//! (clap) and the runtime control API (`GET`/`PUT /_mock/options`, durations as `*_ms` fields).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::MockError;

/// How the mock behaves. `Default` is a fast, faultless, open provider with 16-token answers.
#[derive(Clone, PartialEq, clap::Args, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MockOptions {
    /// Delay before the response headers of every `/v1` request.
    #[arg(long = "latency-ms", value_name = "MS", value_parser = parse_millis, default_value = "0")]
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// Delay before each content chunk of a stream.
    #[arg(long = "chunk-delay-ms", value_name = "MS", value_parser = parse_millis, default_value = "0")]
    #[serde(rename = "chunk_delay_ms", with = "millis")]
    pub chunk_delay: Duration,
    /// Content chunks (= completion tokens) per answer, before `max_tokens` caps it.
    #[arg(long, default_value_t = 16)]
    pub chunks: usize,
    /// Fraction of `/v1` requests (0..=1) answered with `error_status`, spread evenly.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    pub error_rate: f64,
    /// Status of injected errors (429 adds `retry-after: 1`).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u16).range(400..=599))]
    pub error_status: u16,
    /// Accept requests and never answer them.
    #[arg(long)]
    pub hang: bool,
    /// In streams, reset the connection after this many content chunks (no finish, no `[DONE]`).
    #[arg(long, value_name = "N")]
    pub disconnect_after: Option<usize>,
    /// Prompts above this many tokens are refused with the provider's own context-length
    /// error (OpenAI `context_length_exceeded`, Anthropic "prompt is too long", ...).
    #[arg(long, value_name = "TOKENS")]
    pub context_window: Option<u64>,
    /// Bearer key required on `/v1` routes; `None` accepts any caller. Set from the binary's
    /// `--api-key-env`; never shown by the control API and never settable through it.
    #[arg(skip)]
    #[serde(skip)]
    pub api_key: Option<String>,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            chunks: 16,
            error_rate: 0.0,
            error_status: 500,
            hang: false,
            disconnect_after: None,
            context_window: None,
            api_key: None,
        }
    }
}

// Hand-written so the API key never reaches a log line.
impl fmt::Debug for MockOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockOptions")
            .field("latency", &self.latency)
            .field("chunk_delay", &self.chunk_delay)
            .field("chunks", &self.chunks)
            .field("error_rate", &self.error_rate)
            .field("error_status", &self.error_status)
            .field("hang", &self.hang)
            .field("disconnect_after", &self.disconnect_after)
            .field("context_window", &self.context_window)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl MockOptions {
    /// Checks what clap checks for the binary, for options arriving through the control API.
    pub fn validate(&self) -> Result<(), MockError> {
        if !(0.0..=1.0).contains(&self.error_rate) {
            return Err(MockError::InvalidOption("error_rate must be within 0..=1"));
        }
        if !(400..=599).contains(&self.error_status) {
            return Err(MockError::InvalidOption(
                "error_status must be within 400..=599",
            ));
        }
        Ok(())
    }
}

/// What the mock actually served since it started. Tokens are counted as delivered: a stream cut
/// by `disconnect_after` (or by the client) counts only the chunks that went out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockStats {
    /// Every request to a `/v1` route, faulted or not.
    pub requests: u64,
    /// Every `POST /v1/chat/completions`, faulted or not.
    pub chat_requests: u64,
    /// Every `POST /v1/messages` (Anthropic), faulted or not.
    #[serde(default)]
    pub messages_requests: u64,
    /// Every `POST /v1/responses` (OpenAI Responses API), faulted or not.
    #[serde(default)]
    pub responses_requests: u64,
    /// Prompt tokens of every chat, responses, messages or embeddings answer that was started (for
    /// Anthropic answers, all of them: uncached, cache reads and cache writes).
    pub prompt_tokens: u64,
    /// Completion tokens handed to the connection.
    pub completion_tokens: u64,
    /// Of `prompt_tokens`, those reported as read from the prompt cache (Anthropic path).
    #[serde(default)]
    pub cache_read_tokens: u64,
    /// Of `prompt_tokens`, those reported as written to the prompt cache (Anthropic path).
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Images returned by `/v1/images/generations`.
    #[serde(default)]
    pub images: u64,
    /// Characters of `input` spoken by `/v1/audio/speech`.
    #[serde(default)]
    pub speech_characters: u64,
    /// Seconds of audio `/v1/audio/transcriptions` reported (duration-billed models).
    #[serde(default)]
    pub audio_seconds: u64,
    /// Requests `/v1/moderations` answered.
    #[serde(default)]
    pub moderation_requests: u64,
    /// Search units `/v1/rerank` reported.
    #[serde(default)]
    pub search_units: u64,
}

fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|e| format!("expected whole milliseconds: {e}"))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(_) => Err("expected a fraction within 0..=1".to_owned()),
        Err(e) => Err(e.to_string()),
    }
}

/// `Duration` as whole milliseconds on the control API.
mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_millisecond_fields_and_hides_the_key() {
        let opts = MockOptions {
            latency: Duration::from_millis(50),
            api_key: Some("sk-secret".into()),
            ..MockOptions::default()
        };
        let json = serde_json::to_value(&opts).unwrap();
        assert_eq!(json["latency_ms"], 50);
        assert_eq!(json["chunk_delay_ms"], 0);
        assert!(!json.to_string().contains("sk-secret"));
        assert!(!format!("{opts:?}").contains("sk-secret"));
    }

    #[test]
    fn partial_json_fills_defaults_and_unknown_fields_are_refused() {
        let opts: MockOptions = serde_json::from_str(r#"{"chunks":3}"#).unwrap();
        assert_eq!(opts.chunks, 3);
        assert_eq!(opts.error_status, 500);
        assert!(serde_json::from_str::<MockOptions>(r#"{"latency":3}"#).is_err());
    }

    #[test]
    fn validate_rejects_out_of_range_values() {
        let bad_rate = MockOptions {
            error_rate: 1.5,
            ..MockOptions::default()
        };
        assert!(bad_rate.validate().is_err());
        let bad_status = MockOptions {
            error_status: 200,
            ..MockOptions::default()
        };
        assert!(bad_status.validate().is_err());
        assert!(MockOptions::default().validate().is_ok());
    }
}
