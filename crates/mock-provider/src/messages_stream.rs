//! Streaming Messages answers: `text/event-stream` with Anthropic's framing
//! (`event: <type>\ndata: <json>\n\n`) in Anthropic's documented order: `message_start` (input
//! usage, `output_tokens: 1`), per block `content_block_start`, deltas, `content_block_stop` (a
//! `ping` after the first block start, as Anthropic sends one), `message_delta` (stop reason and
//! cumulative usage), `message_stop`.
//!
//! The events are rendered up front and sent by [`crate::paced`]; "content" events (thinking,
//! text and tool input deltas) are the ones `chunk_delay` spaces out and `disconnect_after`
//! counts.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderValue, header};
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::MockError;
use crate::messages_answer::{Answer, SIGNATURE, THINKING, TOOL_USE_TOKENS, Usage};
use crate::paced::{self, Piece};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
}

fn event(name: &str, data: &Value) -> Result<Vec<u8>, MockError> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    serde_json::to_writer(&mut out, data)?;
    out.extend_from_slice(b"\n\n");
    Ok(out)
}

fn piece(name: &str, data: &Value) -> Result<Piece, MockError> {
    Ok(Piece {
        bytes: event(name, data)?,
        content: false,
        tokens: 0,
    })
}

fn render(id: &str, model: &str, answer: &Answer, usage: Usage) -> Result<Vec<Piece>, MockError> {
    let mut start_usage = usage;
    start_usage.output_tokens = 1;
    let mut out = vec![piece(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    )?];
    let mut index = 0u32;
    if answer.thinking {
        out.push(piece(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        )?);
        for word in THINKING {
            out.push(Piece {
                bytes: event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "thinking_delta", "thinking": word}}),
                )?,
                content: true,
                tokens: 1,
            });
        }
        out.push(piece(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "signature_delta", "signature": SIGNATURE}}),
        )?);
        out.push(piece(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )?);
        index += 1;
    }
    if answer.words > 0 || answer.tool_uses.is_empty() {
        out.push(piece(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index,
                    "content_block": {"type": "text", "text": ""}}),
        )?);
        if index == 0 {
            out.push(piece("ping", &json!({"type": "ping"}))?);
        }
        for i in 0..answer.words {
            let (sep, word) = crate::chat::chunk_text(i);
            out.push(Piece {
                bytes: event(
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index,
                            "delta": {"type": "text_delta", "text": format!("{sep}{word}")}}),
                )?,
                content: true,
                tokens: 1,
            });
        }
        out.push(piece(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )?);
        index += 1;
    }
    for (tool_id, name, input) in &answer.tool_uses {
        out.push(piece(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block":
                {"type": "tool_use", "id": tool_id, "name": name, "input": {}}}),
        )?);
        let delta = |partial: &str| {
            json!({"type": "content_block_delta", "index": index,
                   "delta": {"type": "input_json_delta", "partial_json": partial}})
        };
        out.push(piece("content_block_delta", &delta(""))?);
        let text = input.to_string();
        let (first, second) = paced::halves(&text);
        for (k, half) in [first, second].into_iter().enumerate() {
            out.push(Piece {
                bytes: event("content_block_delta", &delta(half))?,
                content: true,
                tokens: if k == 0 { TOOL_USE_TOKENS } else { 0 },
            });
        }
        out.push(piece(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        )?);
        index += 1;
    }
    out.push(piece(
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": answer.stop_reason, "stop_sequence": null},
                "usage": {"input_tokens": usage.input_tokens,
                          "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                          "cache_read_input_tokens": usage.cache_read_input_tokens,
                          "output_tokens": usage.output_tokens}}),
    )?);
    out.push(piece("message_stop", &json!({"type": "message_stop"}))?);
    Ok(out)
}

/// Starts a streaming answer.
pub(crate) fn respond(
    shared: Arc<Shared>,
    id: &str,
    model: &str,
    answer: &Answer,
    usage: Usage,
    spec: StreamSpec,
) -> Result<Response, MockError> {
    let mut pieces = render(id, model, answer, usage)?;
    // n = 0 cuts right after message_start.
    let aborts = paced::cut_for_disconnect(&mut pieces, spec.disconnect_after, 1);
    let mut response = paced::response(
        shared,
        pieces,
        spec.chunk_delay,
        aborts,
        "text/event-stream; charset=utf-8",
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}
