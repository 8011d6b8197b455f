//! The answer side of translation: a provider's answer, whole or event by event, turned into
//! the client's wire format, with what the relay needs to know about it (output seen, provider
//! error, the stream's proper end, usage). Pure: no I/O, no frames; the relay decides what to
//! send and when.
//!
//! `body.rs` translates whole answers, `stream.rs` holds the per-stream [`Codec`], `native.rs`
//! the Gemini and Bedrock translators both use; `responses.rs` turns a chat leg's answer into a
//! Responses API answer, `responses_native.rs` relays a native Responses answer, and
//! `completions.rs` turns a chat leg's answer into a legacy Completions answer.

mod body;
mod chat_leg;
mod completions;
mod native;
mod responses;
mod responses_native;
mod stream;

pub(crate) use body::translate_body;
pub(crate) use stream::Codec;
use tollgate_formats::openai::OutputMeter;

/// What one upstream event did.
#[derive(Default)]
pub(crate) struct Seen {
    pub output: bool,
    pub error: bool,
    /// The stream's proper end (`message_stop`, `[DONE]`).
    pub done: bool,
}

impl Seen {
    pub(crate) fn merge(&mut self, other: Seen) {
        self.output |= other.output;
        self.error |= other.error;
        self.done |= other.done;
    }
}

/// Seconds since the epoch, for the `created` field of translated answers.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Output counted from bytes alone (an answer that came whole, or a codec that meters bytes).
pub(crate) fn bytes_meter(bytes: u64) -> OutputMeter {
    let mut m = OutputMeter::default();
    m.add_bytes(bytes);
    m
}
