//! Streaming Converse answers: an `application/vnd.amazon.eventstream` body of binary frames
//! (`:message-type: event`, `:event-type: <name>`, `:content-type: application/json`), each
//! payload the event's own object, in Bedrock's order: `messageStart`, per block the deltas
//! (tool blocks open with `contentBlockStart`) and `contentBlockStop`, `messageStop`, then
//! `metadata` with the usage. Like Bedrock, every payload carries a `p` padding field.
//!
//! The frames are sent by [`crate::paced`]: "content" events (reasoning, text and tool input
//! deltas) are the ones `chunk_delay` spaces out and `disconnect_after` counts.

use std::sync::Arc;
use std::time::Duration;

use axum::response::Response;
use serde_json::{Value, json};
use tollgate_formats::bedrock::{EVENT_STREAM_CONTENT_TYPE, encode_frame};

use crate::bedrock::BedrockError;
use crate::bedrock_answer::{Answer, word};
use crate::messages_answer::{SIGNATURE, THINKING, TOOL_USE_TOKENS};
use crate::paced::{self, Piece};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
    /// Send this exception frame after the first content event and end the stream.
    pub(crate) exception: Option<String>,
}

/// Bedrock pads payloads to hide their lengths; the padding is a run of letters.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ";

fn event(name: &str, mut payload: Value, content: bool, tokens: u64) -> Piece {
    if let Value::Object(o) = &mut payload {
        let pad = PADDING.len() - (name.len() % 8);
        o.insert("p".to_owned(), json!(&PADDING[..pad]));
    }
    let bytes = serde_json::to_vec(&payload).unwrap_or_default();
    Piece {
        bytes: encode_frame("event", name, &bytes),
        content,
        tokens,
    }
}

fn render(a: &Answer) -> Vec<Piece> {
    let mut out = vec![event(
        "messageStart",
        json!({"role": "assistant"}),
        false,
        0,
    )];
    let mut index = 0u32;
    let delta = |index: u32, d: Value, tokens: u64| {
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": d}),
            true,
            tokens,
        )
    };
    let stop = |index: u32| {
        event(
            "contentBlockStop",
            json!({"contentBlockIndex": index}),
            false,
            0,
        )
    };
    if a.thinking {
        for w in THINKING {
            out.push(delta(index, json!({"reasoningContent": {"text": w}}), 1));
        }
        out.push(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": SIGNATURE}}}),
            false,
            0,
        ));
        out.push(stop(index));
        index += 1;
    }
    if a.words > 0 || a.tool_uses.is_empty() {
        for i in 0..a.words {
            out.push(delta(index, json!({"text": word(i)}), 1));
        }
        out.push(stop(index));
        index += 1;
    }
    for (id, name, input) in &a.tool_uses {
        out.push(event(
            "contentBlockStart",
            json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
            false,
            0,
        ));
        let text = input.to_string();
        let (first, second) = paced::halves(&text);
        out.push(delta(
            index,
            json!({"toolUse": {"input": first}}),
            TOOL_USE_TOKENS,
        ));
        out.push(delta(index, json!({"toolUse": {"input": second}}), 0));
        out.push(stop(index));
        index += 1;
    }
    out.push(event(
        "messageStop",
        json!({"stopReason": a.stop_reason}),
        false,
        0,
    ));
    out.push(event(
        "metadata",
        json!({"usage": a.usage, "metrics": {"latencyMs": 1}}),
        false,
        0,
    ));
    out
}

/// Starts a streaming answer.
pub(crate) fn respond(shared: Arc<Shared>, answer: &Answer, spec: StreamSpec) -> Response {
    let mut pieces = render(answer);
    let aborts = match &spec.exception {
        Some(name) => {
            let cut = pieces.iter().position(|p| p.content).map_or(1, |i| i + 1);
            pieces.truncate(cut);
            let kind = BedrockError::stream_name(name);
            let payload = json!({"message": "The model stream failed (injected by the mock)."});
            pieces.push(Piece {
                bytes: encode_frame("exception", &kind, payload.to_string().as_bytes()),
                content: false,
                tokens: 0,
            });
            false
        }
        // n = 0 cuts right after messageStart.
        None => paced::cut_for_disconnect(&mut pieces, spec.disconnect_after, 1),
    };
    paced::response(
        shared,
        pieces,
        spec.chunk_delay,
        aborts,
        EVENT_STREAM_CONTENT_TYPE,
    )
}
