//! The streaming body the Messages, Gemini and Bedrock mocks share: their events are rendered
//! up front into pieces, and this sends them. "Content" pieces (thinking, text and tool input
//! deltas) are the ones `chunk_delay` spaces out and `disconnect_after` counts; each piece's
//! output tokens are counted as it goes out, so a cut stream counts only what was sent.

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
use tokio::time::{Instant, Sleep};

use crate::error::MockError;
use crate::state::Shared;

/// One rendered event of a streaming answer.
pub(crate) struct Piece {
    pub(crate) bytes: Vec<u8>,
    /// Spaced out by `chunk_delay` and counted by `disconnect_after`.
    pub(crate) content: bool,
    /// Output tokens counted when the piece is sent.
    pub(crate) tokens: u64,
}

/// Applies the disconnect fault: keeps the pieces up to and including the n-th content piece
/// (for n = 0 the first `head` pieces, the stream's opening events) and says whether the stream
/// must then fail. With fewer than n content pieces the whole answer goes out normally.
pub(crate) fn cut_for_disconnect(
    pieces: &mut Vec<Piece>,
    disconnect_after: Option<usize>,
    head: usize,
) -> bool {
    let Some(n) = disconnect_after else {
        return false;
    };
    let content_at: Vec<usize> = (0..pieces.len()).filter(|i| pieces[*i].content).collect();
    if n > content_at.len() {
        return false;
    }
    let cut = n.checked_sub(1).map_or(head, |k| content_at[k] + 1);
    pieces.truncate(cut);
    true
}

/// A tool input's JSON text cut in two at a char boundary, so clients must join partial JSON.
pub(crate) fn halves(text: &str) -> (&str, &str) {
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    text.split_at(mid)
}

/// A response streaming `pieces` with `content_type`; `aborts` ends it with an injected
/// disconnect after the last piece.
pub(crate) fn response(
    shared: Arc<Shared>,
    pieces: Vec<Piece>,
    delay: Duration,
    aborts: bool,
    content_type: &'static str,
) -> Response {
    let stream = PacedStream {
        shared,
        pieces: pieces.into_iter(),
        delay,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        armed: false,
        aborts,
        phase: Phase::Sending,
        pending: None,
    };
    let mut response = Response::new(Body::from_stream(stream));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
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

struct PacedStream {
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

impl PacedStream {
    fn after_pieces(&self) -> Phase {
        if self.aborts {
            Phase::Abort { yielded: false }
        } else {
            Phase::Done
        }
    }
}

impl Stream for PacedStream {
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
