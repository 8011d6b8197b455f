//! Streaming Gemini answers (`:streamGenerateContent`). With `alt=sse`: `text/event-stream` of
//! `data: <GenerateContentResponse>\r\n\r\n` events and no terminator (the body just ends), as
//! Google sends them: one chunk per thought word, per answer word, one for all function calls,
//! then a last chunk with an empty text part, `finishReason` and the final usage. Every chunk
//! carries the usage so far. Without `alt=sse` the same chunks come as one JSON array.
//!
//! `chunk_delay` spaces out the content chunks and `disconnect_after` cuts the connection after
//! that many of them (so no `finishReason` ever arrives).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::Stream;
use serde_json::{Value, json};
use tokio::time::{Instant, Sleep};

use crate::error::MockError;
use crate::gemini_answer::{Answer, response};
use crate::messages_answer::TOOL_USE_TOKENS;
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
    pub(crate) sse: bool,
}

struct Chunk {
    json: Value,
    content: bool,
    tokens: u64,
}

fn chunks(answer: &Answer, model: &str, id: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let (mut candidates, mut thoughts) = (0u64, 0u64);
    let hidden_thoughts = if answer.req.show_thoughts {
        0
    } else {
        answer.thoughts_tokens()
    };
    thoughts += hidden_thoughts;
    for p in answer.thought_parts() {
        thoughts += 1;
        out.push(Chunk {
            json: response(vec![p], None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens: 1,
        });
    }
    for p in answer.word_parts() {
        candidates += 1;
        out.push(Chunk {
            json: response(vec![p], None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens: 1,
        });
    }
    let calls = answer.call_parts();
    if !calls.is_empty() {
        let tokens = calls.len() as u64 * TOOL_USE_TOKENS;
        candidates += tokens;
        out.push(Chunk {
            json: response(calls, None, answer.usage(candidates, thoughts), model, id),
            content: true,
            tokens,
        });
    }
    // Hidden thinking is charged with the first chunk that goes out.
    if let Some(first) = out.first_mut() {
        first.tokens += hidden_thoughts;
    }
    out.push(Chunk {
        json: response(
            vec![json!({"text": ""})],
            Some(answer.finish_reason),
            answer.usage(candidates, thoughts),
            model,
            id,
        ),
        content: false,
        tokens: if out.is_empty() { hidden_thoughts } else { 0 },
    });
    out
}

/// Starts a streaming answer.
pub(crate) fn respond(
    shared: Arc<Shared>,
    answer: &Answer,
    model: &str,
    id: &str,
    spec: StreamSpec,
) -> Result<Response, MockError> {
    let mut all = chunks(answer, model, id);
    if !spec.sse {
        // One JSON array, all at once: nothing to pace or cut.
        shared.count_completion(all.iter().map(|c| c.tokens).sum());
        let items: Vec<Value> = all.into_iter().map(|c| c.json).collect();
        return Ok(axum::Json(Value::Array(items)).into_response());
    }
    let content = all.iter().filter(|c| c.content).count();
    let aborts = match spec.disconnect_after {
        Some(n) if n <= content => {
            // Content chunks come first, so the cut is right after the n-th.
            all.truncate(n);
            true
        }
        _ => false,
    };
    let mut pieces = Vec::with_capacity(all.len());
    for c in all {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut bytes, &c.json)?;
        bytes.extend_from_slice(b"\r\n\r\n");
        pieces.push(Piece {
            bytes,
            content: c.content,
            tokens: c.tokens,
        });
    }
    let stream = GeminiStream {
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
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

struct Piece {
    bytes: Vec<u8>,
    content: bool,
    tokens: u64,
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

struct GeminiStream {
    shared: Arc<Shared>,
    pieces: std::vec::IntoIter<Piece>,
    delay: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
    aborts: bool,
    phase: Phase,
    pending: Option<Piece>,
}

impl GeminiStream {
    fn after_pieces(&self) -> Phase {
        if self.aborts {
            Phase::Abort { yielded: false }
        } else {
            Phase::Done
        }
    }
}

impl Stream for GeminiStream {
    type Item = Result<Bytes, MockError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Sending if this.delay.is_zero() => {
                    let mut buf = Vec::new();
                    let mut tokens = 0;
                    for p in this.pieces.by_ref() {
                        buf.extend_from_slice(&p.bytes);
                        tokens += p.tokens;
                    }
                    this.shared.count_completion(tokens);
                    this.phase = this.after_pieces();
                    if buf.is_empty() {
                        continue;
                    }
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
