//! Streaming Messages answers: `text/event-stream` with Anthropic's framing
//! (`event: <type>\ndata: <json>\n\n`) in Anthropic's documented order: `message_start` (input
//! usage, `output_tokens: 1`), per block `content_block_start`, deltas, `content_block_stop` (a
//! `ping` after the first block start, as Anthropic sends one), `message_delta` (stop reason and
//! cumulative usage), `message_stop`.
//!
//! The events are rendered up front; "content" events (thinking, text and tool input deltas)
//! are the ones `chunk_delay` spaces out and `disconnect_after` counts.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::time::{Instant, Sleep};

use crate::error::MockError;
use crate::messages_answer::{Answer, SIGNATURE, THINKING, TOOL_USE_TOKENS, Usage};
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
}

struct Piece {
    bytes: Vec<u8>,
    content: bool,
    tokens: u64,
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
        // The input in two halves, so clients must join partial JSON.
        let text = input.to_string();
        let mid = (0..=text.len() / 2)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        for (k, half) in [&text[..mid], &text[mid..]].into_iter().enumerate() {
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
    // Where the disconnect fault cuts: right after the n-th content event (n = 0: after
    // message_start).
    let content_at: Vec<usize> = (0..pieces.len()).filter(|i| pieces[*i].content).collect();
    let aborts = match spec.disconnect_after {
        Some(n) if n <= content_at.len() => {
            let cut = match n.checked_sub(1) {
                Some(k) => content_at[k] + 1,
                None => 1,
            };
            pieces.truncate(cut);
            true
        }
        _ => false,
    };
    let stream = MessagesStream {
        shared,
        pieces: pieces.into_iter(),
        delay: spec.chunk_delay,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        armed: false,
        aborts,
        phase: Phase::Sending,
        pending: None,
    };
    let mut response = Response::new(Body::from_stream(stream));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Sending,
    /// Return `Pending` once so hyper flushes what it has before the error resets the connection.
    Abort {
        yielded: bool,
    },
    Done,
}

struct MessagesStream {
    shared: Arc<Shared>,
    pieces: std::vec::IntoIter<Piece>,
    delay: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
    aborts: bool,
    phase: Phase,
    /// A content piece waiting for its delay.
    pending: Option<Piece>,
}

impl MessagesStream {
    fn after_pieces(&self) -> Phase {
        if self.aborts {
            Phase::Abort { yielded: false }
        } else {
            Phase::Done
        }
    }
}

impl Stream for MessagesStream {
    type Item = Result<Bytes, MockError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Sending if this.delay.is_zero() => {
                    // Nothing to wait for: everything in one write.
                    let mut buf = Vec::new();
                    let mut tokens = 0;
                    for p in this.pieces.by_ref() {
                        buf.extend_from_slice(&p.bytes);
                        tokens += p.tokens;
                    }
                    this.shared.count_completion(tokens);
                    this.phase = this.after_pieces();
                    return Poll::Ready(Some(Ok(Bytes::from(buf))));
                }
                Phase::Sending => {
                    let piece = match this.pending.take() {
                        Some(p) => p,
                        None => match this.pieces.next() {
                            Some(p) => p,
                            None => {
                                this.phase = this.after_pieces();
                                continue;
                            }
                        },
                    };
                    if piece.content {
                        if !this.armed {
                            this.sleep.as_mut().reset(Instant::now() + this.delay);
                            this.armed = true;
                        }
                        if this.sleep.as_mut().poll(cx).is_pending() {
                            this.pending = Some(piece);
                            return Poll::Pending;
                        }
                        this.armed = false;
                    }
                    this.shared.count_completion(piece.tokens);
                    return Poll::Ready(Some(Ok(Bytes::from(piece.bytes))));
                }
                Phase::Abort { yielded: false } => {
                    this.phase = Phase::Abort { yielded: true };
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Phase::Abort { yielded: true } => {
                    this.phase = Phase::Done;
                    return Poll::Ready(Some(Err(MockError::InjectedDisconnect)));
                }
                Phase::Done => return Poll::Ready(None),
            }
        }
    }
}
