//! Relaying a provider's 2xx answer to the edge as frames: [`run`] is the one entry point, which
//! hands the answer to the OpenAI passthrough (`passthrough.rs`) or to the relay through a codec
//! (`translated.rs`); both end their streams the same way (`ending.rs`).
//!
//! The rules both keep: Start is sent just before the first Data frame, so anything that fails
//! earlier leaves the client untouched and the call can still be retried elsewhere (or answered
//! with a clean Failure). Events without output are held back until the first output (the
//! [`Gate`]), so a provider failing before its first token can still be replaced. Once a byte
//! went out there is no retry: a cut stream gets an explicit error event in the client's format
//! and a Usage for what was delivered. Exactly one Usage ends every relayed answer.

mod ending;
mod endpoint;
mod passthrough;
mod translated;

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::openai::OutputMeter;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use crate::call::{Call, Gone, cancelled};
use crate::mode::Mode;
use crate::upstream;

/// A non-streaming body larger than this is refused rather than buffered.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Output-less events held back before the first output beyond this are sent anyway.
const MAX_HELD: usize = 64 * 1024;
/// An SSE event larger than this means the upstream is not speaking SSE.
const MAX_EVENT: usize = 8 * 1024 * 1024;
/// After `[DONE]`, how long to wait for the body's end so the connection returns to the pool.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// How reading the upstream body ended early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    Cancelled,
    /// The provider's first event was an error object: nothing reached the client yet.
    Refused,
    /// No first byte within the first-token timeout.
    FirstByte,
    /// Silence between two reads beyond the idle timeout.
    Idle,
    /// The total deadline passed.
    Timeout,
    Broken,
    TooLarge,
}

/// How relaying ended.
pub(crate) enum Relayed {
    /// The client got its answer (`ok`) or a stream cut by an error event; Usage was sent. The
    /// response, if any, still has a tail to drain.
    Finished {
        ok: bool,
        tail: Option<reqwest::Response>,
    },
    /// Nothing reached the client: the call may go elsewhere.
    NotStarted(Cut),
    /// The edge went away.
    Gone,
}

/// Relay the answer. A streamed response's tail is drained by the caller after the frame
/// stream is closed, so the edge is not kept waiting.
pub(crate) async fn run(cx: &mut Call<'_>, resp: reqwest::Response) -> Relayed {
    let r = match (cx.mode, cx.call.stream) {
        (&Mode::Endpoint { endpoint, units }, _) => {
            endpoint::relay(cx, resp, endpoint, units).await
        }
        (Mode::OpenAi, true) => passthrough::stream(cx, resp).await,
        (Mode::OpenAi, false) => passthrough::body(cx, resp).await,
        (_, true) => translated::stream(cx, resp).await,
        (_, false) => translated::body(cx, resp).await,
    };
    // Gone: the edge left while we were sending; there is nobody to tell.
    r.unwrap_or_else(|Gone| {
        cancelled(cx);
        Relayed::Gone
    })
}

/// Read to the end of a body (briefly) so its pooled connection can be reused.
pub(crate) async fn drain(mut resp: reqwest::Response) {
    let _ = tokio::time::timeout(DRAIN, async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
}

/// The next body chunk, racing the timeouts and the edge going away. Until something was sent
/// to the client (`started`) the first-token deadline applies, then the idle timeout.
async fn next_chunk(
    cx: &Call<'_>,
    resp: &mut reqwest::Response,
    started: bool,
) -> Result<Option<Bytes>, Cut> {
    let (until, cut) = match started {
        false if cx.first_byte_by < cx.deadline => (cx.first_byte_by, Cut::FirstByte),
        false => (cx.deadline, Cut::Timeout),
        true => {
            let idle = tokio::time::Instant::now() + cx.idle;
            if idle < cx.deadline {
                (idle, Cut::Idle)
            } else {
                (cx.deadline, Cut::Timeout)
            }
        }
    };
    tokio::select! {
        biased;
        () = cx.out.closed() => Err(Cut::Cancelled),
        r = tokio::time::timeout_at(until, resp.chunk()) => match r {
            Err(_) => Err(cut),
            Ok(Err(e)) => {
                tracing::warn!(error = %e.without_url(), "upstream body failed");
                Err(Cut::Broken)
            }
            Ok(Ok(chunk)) => Ok(chunk),
        },
    }
}

/// A whole (non-streamed) body, up to [`MAX_BODY`]; `Err` when it could not be read, before
/// anything reached the client.
async fn read_body(
    cx: &mut Call<'_>,
    resp: &mut reqwest::Response,
) -> Result<Result<Bytes, Cut>, Gone> {
    let mut parts: Vec<Bytes> = Vec::with_capacity(1);
    let mut len = 0;
    loop {
        match next_chunk(cx, resp, false).await {
            Ok(Some(chunk)) => {
                first_byte(cx);
                len += chunk.len();
                if len > MAX_BODY {
                    return Ok(Err(Cut::TooLarge));
                }
                parts.push(chunk);
            }
            Ok(None) => break,
            Err(Cut::Cancelled) => return Err(Gone),
            Err(cut) => return Ok(Err(cut)),
        }
    }
    // One read (the usual case) is passed on without a copy.
    Ok(Ok(match parts.len() {
        1 => parts.swap_remove(0),
        _ => Bytes::from(parts.concat()),
    }))
}

fn start(cx: &Call<'_>, content_type: &str) -> Kind {
    Kind::Start(rpc::Start {
        status: 200,
        content_type: content_type.to_owned(),
        deployment: cx.deployment.id.clone(),
        provider: cx.deployment.provider.name.clone(),
        model: cx.served.to_owned(),
        upstream_request_id: cx.upstream_id.clone().unwrap_or_default(),
    })
}

fn first_byte(cx: &mut Call<'_>) {
    if cx.ttfb.is_none() {
        let t = cx.sent_at.elapsed();
        cx.ttfb = Some(t);
        upstream::record_ttfb(cx.deployment, t);
    }
}

/// What one upstream read turned into, in the client's format.
#[derive(Default)]
struct Read {
    buf: BytesMut,
    /// It carried output (content, tool calls, reasoning).
    output: bool,
    /// The provider's error came before anything reached the client.
    refused: bool,
    /// The upstream body ended with this read.
    eof: bool,
}

/// What a stream sends before its first output: nothing until then (or until its end, a
/// provider error, or [`MAX_HELD`] held back), then Start and everything held, at once.
struct Gate {
    content_type: &'static str,
    started: bool,
    held: BytesMut,
}

impl Gate {
    fn new(content_type: &'static str) -> Gate {
        Gate {
            content_type,
            started: false,
            held: BytesMut::new(),
        }
    }

    /// Send what may go out of `buf` now (`open`: output, or the stream's end, came); a Data
    /// frame carrying output is followed by a Progress frame.
    async fn send(
        &mut self,
        cx: &Call<'_>,
        buf: BytesMut,
        open: bool,
        output: bool,
        progress: impl FnOnce() -> rpc::Progress,
    ) -> Result<(), Gone> {
        let data = if self.started {
            buf
        } else {
            self.held.extend_from_slice(&buf);
            if open || self.held.len() > MAX_HELD {
                cx.out.send(start(cx, self.content_type)).await?;
                self.started = true;
                self.held.split()
            } else {
                BytesMut::new()
            }
        };
        if !data.is_empty() {
            cx.out.send(Kind::Data(data.freeze())).await?;
            if output {
                cx.out.send(Kind::Progress(progress())).await?;
            }
        }
        Ok(())
    }
}

/// Tokens delivered so far, the input as reported or else estimated.
fn progress(cx: &Call<'_>, output_tokens: u64, reported_input: Option<u64>) -> rpc::Progress {
    rpc::Progress {
        output_tokens,
        input_tokens: reported_input.unwrap_or_else(|| cx.prompt_estimate()),
    }
}

/// The usage to bill: the provider's (`true`), else the prompt estimate plus the output
/// delivered.
fn usage_or_estimate(cx: &Call<'_>, reported: Option<Usage>, meter: OutputMeter) -> (Usage, bool) {
    match reported {
        Some(u) => (u, true),
        None => (estimate(cx, meter), false),
    }
}

/// Prompt estimate plus the output delivered, when the provider never reported usage.
fn estimate(cx: &Call<'_>, meter: OutputMeter) -> Usage {
    Usage {
        input_tokens: cx.prompt_estimate(),
        output_tokens: meter.tokens(),
        ..Usage::default()
    }
}

/// The answer's Usage frame, the last one, and how relaying ended.
async fn finish(
    cx: &Call<'_>,
    (usage, reported): (Usage, bool),
    outcome: rpc::Outcome,
    tail: Option<reqwest::Response>,
) -> Result<Relayed, Gone> {
    cx.out.send(cx.usage(usage, reported, outcome)).await?;
    Ok(Relayed::Finished {
        ok: outcome == rpc::Outcome::Completed,
        tail,
    })
}
