//! Streaming answers: `text/event-stream` of `chat.completion.chunk` events, exactly in
//! OpenAI's order: a role delta, one content delta per token, a delta carrying `finish_reason`,
//! a `"choices":[]` usage chunk only when `stream_options.include_usage` is set, then `[DONE]`.
//!
//! Every chunk of one answer shares its `id`/`created`/`model` prefix, so the prefix is encoded
//! once and each event is a few `memcpy`s. With no `chunk_delay` the whole answer goes out in one
//! buffer; with one, each content chunk waits for it.

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

use crate::chat::{ChatRequest, FINGERPRINT, Plan, Usage, chunk_text};
use crate::error::MockError;
use crate::state::Shared;

pub(crate) struct StreamSpec {
    pub(crate) plan: Plan,
    pub(crate) chunk_delay: Duration,
    pub(crate) disconnect_after: Option<usize>,
}

/// Starts a streaming answer; the prompt counts as served once the headers go out.
pub(crate) fn respond(
    shared: Arc<Shared>,
    id: &str,
    created: u64,
    req: &ChatRequest<'_>,
    spec: StreamSpec,
) -> Result<Response, MockError> {
    let stream = ChatStream::new(shared, id, created, req, spec)?;
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
    Start,
    Content,
    Closing,
    /// Return `Pending` once (after waking ourselves) so hyper flushes what it has buffered
    /// before it sees the error and resets the connection.
    Abort {
        yielded: bool,
    },
    Done,
}

struct ChatStream {
    shared: Arc<Shared>,
    /// `data: {"id":…,"object":"chat.completion.chunk",…,"choices":[`
    meta: Vec<u8>,
    /// OpenAI adds `"usage":null` to every chunk when usage was asked for.
    include_usage: bool,
    prompt_tokens: u64,
    plan: Plan,
    /// Content chunks to send before stopping (all of them, or `disconnect_after`).
    limit: usize,
    aborts: bool,
    sent: usize,
    delay: Duration,
    sleep: Pin<Box<Sleep>>,
    armed: bool,
    phase: Phase,
}

impl ChatStream {
    fn new(
        shared: Arc<Shared>,
        id: &str,
        created: u64,
        req: &ChatRequest<'_>,
        spec: StreamSpec,
    ) -> Result<Self, MockError> {
        let mut meta = Vec::with_capacity(160 + req.model.len());
        meta.extend_from_slice(b"data: {\"id\":");
        serde_json::to_writer(&mut meta, &format!("chatcmpl-{id}"))?;
        meta.extend_from_slice(b",\"object\":\"chat.completion.chunk\",\"created\":");
        meta.extend_from_slice(created.to_string().as_bytes());
        meta.extend_from_slice(b",\"model\":");
        serde_json::to_writer(&mut meta, &*req.model)?;
        meta.extend_from_slice(b",\"service_tier\":\"default\",\"system_fingerprint\":\"");
        meta.extend_from_slice(FINGERPRINT.as_bytes());
        meta.extend_from_slice(b"\",\"choices\":[");

        let planned = spec.plan.completion_tokens;
        let (limit, aborts) = match spec.disconnect_after {
            Some(n) if n <= planned => (n, true),
            _ => (planned, false),
        };
        shared.count_prompt(req.prompt_tokens);
        Ok(Self {
            shared,
            meta,
            include_usage: req.include_usage,
            prompt_tokens: req.prompt_tokens,
            plan: spec.plan,
            limit,
            aborts,
            sent: 0,
            delay: spec.chunk_delay,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed: false,
            phase: Phase::Start,
        })
    }

    fn push_choice(&self, buf: &mut Vec<u8>, delta: &[u8], finish_reason: &[u8]) {
        buf.extend_from_slice(&self.meta);
        buf.extend_from_slice(b"{\"index\":0,\"delta\":");
        buf.extend_from_slice(delta);
        buf.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":");
        buf.extend_from_slice(finish_reason);
        buf.extend_from_slice(b"}]");
        if self.include_usage {
            buf.extend_from_slice(b",\"usage\":null");
        }
        buf.extend_from_slice(b"}\n\n");
    }

    fn push_content(&mut self, buf: &mut Vec<u8>) {
        let (sep, word) = chunk_text(self.sent);
        let mut delta = Vec::with_capacity(24);
        delta.extend_from_slice(b"{\"content\":\"");
        delta.extend_from_slice(sep.as_bytes());
        delta.extend_from_slice(word.as_bytes());
        delta.extend_from_slice(b"\"}");
        self.push_choice(buf, &delta, b"null");
        self.sent += 1;
    }

    fn push_closing(&self, buf: &mut Vec<u8>) -> Result<(), MockError> {
        let reason = format!("\"{}\"", self.plan.finish_reason);
        self.push_choice(buf, b"{}", reason.as_bytes());
        if self.include_usage {
            buf.extend_from_slice(&self.meta);
            buf.extend_from_slice(b"],\"usage\":");
            let usage = Usage::new(self.prompt_tokens, self.sent as u64);
            serde_json::to_writer(&mut *buf, &usage)?;
            buf.extend_from_slice(b"}\n\n");
        }
        buf.extend_from_slice(b"data: [DONE]\n\n");
        Ok(())
    }

    fn after_content(&self) -> Phase {
        if self.aborts {
            Phase::Abort { yielded: false }
        } else {
            Phase::Closing
        }
    }

    fn event_capacity(&self) -> usize {
        self.meta.len() + 96
    }
}

impl Stream for ChatStream {
    type Item = Result<Bytes, MockError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match this.phase {
                Phase::Start => {
                    let mut buf = Vec::with_capacity(this.event_capacity());
                    this.push_choice(
                        &mut buf,
                        b"{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}",
                        b"null",
                    );
                    this.phase = Phase::Content;
                    if this.delay.is_zero() {
                        // Nothing to wait for: send the whole answer in one write.
                        buf.reserve(this.event_capacity() * (this.limit + 2));
                        while this.sent < this.limit {
                            this.push_content(&mut buf);
                        }
                        this.shared.count_completion(this.sent as u64);
                        this.phase = this.after_content();
                        if this.phase == Phase::Closing {
                            if let Err(e) = this.push_closing(&mut buf) {
                                this.phase = Phase::Done;
                                return Poll::Ready(Some(Err(e)));
                            }
                            this.phase = Phase::Done;
                        }
                    }
                    return Poll::Ready(Some(Ok(Bytes::from(buf))));
                }
                Phase::Content => {
                    if this.sent >= this.limit {
                        this.phase = this.after_content();
                        continue;
                    }
                    if !this.armed {
                        this.sleep.as_mut().reset(Instant::now() + this.delay);
                        this.armed = true;
                    }
                    if this.sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    this.armed = false;
                    let mut buf = Vec::with_capacity(this.event_capacity());
                    this.push_content(&mut buf);
                    this.shared.count_completion(1);
                    return Poll::Ready(Some(Ok(Bytes::from(buf))));
                }
                Phase::Closing => {
                    this.phase = Phase::Done;
                    let mut buf = Vec::with_capacity(this.event_capacity() * 2 + 256);
                    return Poll::Ready(Some(
                        this.push_closing(&mut buf).map(|()| Bytes::from(buf)),
                    ));
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
