//! Relaying a provider's 2xx answer to the edge as frames (the OpenAI passthrough here; answers
//! in or to Anthropic's format in `transcode.rs`, under the same rules).
//!
//! Start is sent just before the first Data frame, so anything that fails earlier leaves the
//! client untouched and the call can still be retried elsewhere (or answered with a clean
//! Failure). Once a byte went out there is no retry: a cut stream gets an explicit error event
//! and a Usage for what was delivered. Model names: the non-streaming body and every stream
//! chunk get their top-level `model` replaced by the name shown to the client (a splice at the
//! byte range found while reading the chunk for usage, so no re-serialisation).

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::{self, SseDecoder};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use crate::chat::{Call, Gone, cancelled};
use crate::dialect::Mode;
use crate::{transcode, upstream};

/// A non-streaming body larger than this is refused rather than buffered.
pub(crate) const MAX_BODY: usize = 32 * 1024 * 1024;
/// Output-less events held back before the first output beyond this are sent anyway.
pub(crate) const MAX_HELD: usize = 64 * 1024;
/// An SSE event larger than this means the upstream is not speaking SSE.
pub(crate) const MAX_EVENT: usize = 8 * 1024 * 1024;
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

/// The next body chunk, racing the timeouts and the edge going away. Until something was sent
/// to the client (`started`) the first-token deadline applies, then the idle timeout.
pub(crate) async fn next_chunk(
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

pub(crate) fn start(cx: &Call<'_>, content_type: &str) -> Kind {
    Kind::Start(rpc::Start {
        status: 200,
        content_type: content_type.to_owned(),
        deployment: cx.deployment.id.clone(),
        provider: cx.deployment.provider.name.clone(),
        model: cx.served.to_owned(),
    })
}

/// Relay the answer. A streamed response's tail is drained by the caller after the frame
/// stream is closed, so the edge is not kept waiting.
pub(crate) async fn relay(cx: &mut Call<'_>, resp: reqwest::Response) -> Relayed {
    let mode = cx.mode;
    let r = match (mode, cx.call.stream) {
        (Mode::OpenAi, true) => relay_stream(cx, resp).await,
        (Mode::OpenAi, false) => relay_body(cx, resp).await,
        (_, true) => transcode::relay_stream(cx, mode, resp).await,
        (_, false) => transcode::relay_body(cx, mode, resp).await,
    };
    // Gone: the edge left while we were sending; there is nobody to tell.
    r.unwrap_or_else(|Gone| {
        cancelled(cx);
        Relayed::Gone
    })
}

pub(crate) fn first_byte(cx: &mut Call<'_>) {
    if cx.ttfb.is_none() {
        let t = cx.sent_at.elapsed();
        cx.ttfb = Some(t);
        upstream::record_ttfb(cx.deployment, t);
    }
}

/// Read to the end of a body (briefly) so its pooled connection can be reused.
pub(crate) async fn drain(mut resp: reqwest::Response) {
    let _ = tokio::time::timeout(DRAIN, async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
}

async fn relay_body(cx: &mut Call<'_>, mut resp: reqwest::Response) -> Result<Relayed, Gone> {
    let mut parts: Vec<Bytes> = Vec::with_capacity(1);
    let mut len = 0;
    loop {
        match next_chunk(cx, &mut resp, false).await {
            Ok(Some(chunk)) => {
                first_byte(cx);
                len += chunk.len();
                if len > MAX_BODY {
                    return Ok(Relayed::NotStarted(Cut::TooLarge));
                }
                parts.push(chunk);
            }
            Ok(None) => break,
            Err(Cut::Cancelled) => return Err(Gone),
            Err(cut) => return Ok(Relayed::NotStarted(cut)),
        }
    }
    let body = match parts.len() {
        1 => parts.swap_remove(0),
        _ => Bytes::from(parts.concat()),
    };
    let (body, usage) = match openai::inspect_completion(&body) {
        Ok(info) => {
            let usage = info.usage.map(|u| (u, true)).unwrap_or_else(|| {
                let mut meter = OutputMeter::default();
                meter.add_bytes(info.output_bytes);
                (estimate(cx, meter), false)
            });
            (openai::replace_model(&body, info.model, cx.shown), usage)
        }
        // Not a chat completion (a 2xx with some other body): relay it untouched, estimate.
        Err(_) => (body, (estimate(cx, OutputMeter::default()), false)),
    };
    cx.out.send(start(cx, openai::JSON_CONTENT_TYPE)).await?;
    cx.out.send(Kind::Data(body)).await?;
    let (usage, reported) = usage;
    cx.out
        .send(cx.usage(usage, reported, rpc::Outcome::Completed))
        .await?;
    Ok(Relayed::Finished {
        ok: true,
        tail: None,
    })
}

async fn relay_stream(cx: &mut Call<'_>, mut resp: reqwest::Response) -> Result<Relayed, Gone> {
    let mut decoder = SseDecoder::new();
    let mut meter = OutputMeter::default();
    let mut reported: Option<Usage> = None;
    let mut started = false;
    // Events without output (the role chunk) wait here until the first output arrives, so a
    // provider failing before its first token can still be replaced by another deployment.
    let mut held = BytesMut::new();
    let mut done = false;
    let mut provider_error = false;
    let end = loop {
        let chunk = match next_chunk(cx, &mut resp, started).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) if decoder.has_partial_event() => break Some(Cut::Broken),
            Ok(None) => break None,
            Err(cut) => break Some(cut),
        };
        first_byte(cx);
        decoder.push(&chunk);
        if decoder.buffered() > MAX_EVENT {
            break Some(Cut::TooLarge);
        }
        // Everything that arrived together leaves together: one Data frame per upstream read.
        let mut buf = BytesMut::new();
        let mut output = false;
        let mut refused = false;
        while let Some(ev) = decoder.next_event() {
            if ev.data == sse::DONE_DATA {
                buf.extend_from_slice(sse::DONE);
                done = true;
                break;
            }
            match openai::inspect_chunk(&ev.data) {
                Ok(info) => {
                    if info.usage.is_some() {
                        reported = info.usage;
                    }
                    if info.error && !started {
                        refused = true;
                        break;
                    }
                    provider_error |= info.error;
                    if info.usage_only && !cx.call.include_usage {
                        continue;
                    }
                    meter.add_chunk(&info);
                    output |= info.output_deltas > 0;
                    openai::put_chunk_event(&mut buf, ev.data.as_bytes(), info.model, cx.shown);
                }
                // Not JSON (a comment-like payload some servers send): pass it through.
                Err(_) => buf.extend_from_slice(&sse::encode_data(ev.data.as_bytes())),
            }
        }
        let data = if started {
            buf
        } else if refused {
            BytesMut::new()
        } else {
            held.extend_from_slice(&buf);
            if output || done || provider_error || held.len() > MAX_HELD {
                cx.out.send(start(cx, openai::SSE_CONTENT_TYPE)).await?;
                started = true;
                held.split()
            } else {
                BytesMut::new()
            }
        };
        if !data.is_empty() {
            cx.out.send(Kind::Data(data.freeze())).await?;
            if output {
                let input = match reported {
                    Some(u) => u.input_tokens,
                    None => cx.prompt_estimate(),
                };
                let progress = rpc::Progress {
                    output_tokens: meter.tokens(),
                    input_tokens: input,
                };
                cx.out.send(Kind::Progress(progress)).await?;
            }
        }
        if refused {
            break Some(Cut::Refused);
        }
        if done || provider_error {
            break None;
        }
    };

    let outcome = match ending(end, provider_error, started)? {
        Ending::Done(outcome) => outcome,
        Ending::NotStarted(cut) => return Ok(Relayed::NotStarted(cut)),
        Ending::Cut { message, code } => {
            let event = openai::stream_error_event(message, "server_error", Some(code), None);
            cx.out.send(Kind::Data(event)).await?;
            rpc::Outcome::Failed
        }
    };
    if !started && outcome == rpc::Outcome::Completed {
        // A stream without output that ended cleanly: the client still gets what there was and
        // a stream that ends properly.
        cx.out.send(start(cx, openai::SSE_CONTENT_TYPE)).await?;
        held.extend_from_slice(sse::DONE);
        cx.out.send(Kind::Data(held.freeze())).await?;
    } else if !done && outcome == rpc::Outcome::Completed {
        // The provider closed cleanly without `[DONE]`; clients expect it.
        cx.out
            .send(Kind::Data(Bytes::from_static(sse::DONE)))
            .await?;
    }
    let (usage, by_provider) = match reported {
        Some(u) => (u, true),
        None => (estimate(cx, meter), false),
    };
    cx.out.send(cx.usage(usage, by_provider, outcome)).await?;
    Ok(Relayed::Finished {
        ok: outcome == rpc::Outcome::Completed,
        tail: done.then_some(resp),
    })
}

/// Prompt estimate plus the output delivered, when the provider never reported usage.
fn estimate(cx: &Call<'_>, meter: OutputMeter) -> Usage {
    Usage {
        input_tokens: cx.prompt_estimate(),
        output_tokens: meter.tokens(),
        ..Usage::default()
    }
}

/// How a relayed stream ended.
pub(crate) enum Ending {
    Done(rpc::Outcome),
    /// Cut before anything reached the client: another deployment may still take it.
    NotStarted(Cut),
    /// Cut after the first byte: the client gets an error event in its format, never silence.
    Cut {
        message: &'static str,
        code: &'static str,
    },
}

/// Classify the end of a stream (shared by the passthrough relay and the transcoding one).
pub(crate) fn ending(
    end: Option<Cut>,
    provider_error: bool,
    started: bool,
) -> Result<Ending, Gone> {
    Ok(match (end, provider_error) {
        (Some(Cut::Cancelled), _) => return Err(Gone),
        (None, false) => Ending::Done(rpc::Outcome::Completed),
        (None, true) => {
            tracing::warn!("the provider sent an error event mid-stream");
            Ending::Done(rpc::Outcome::Failed)
        }
        (Some(cut), _) if !started => Ending::NotStarted(cut),
        (Some(cut), _) => {
            let (message, code) = match cut {
                Cut::Timeout => (
                    "The upstream provider did not finish in time.",
                    "upstream_timeout",
                ),
                Cut::Idle | Cut::FirstByte => (
                    "The upstream provider stopped sending (stream idle timeout).",
                    "upstream_timeout",
                ),
                _ => (
                    "The upstream provider ended the stream unexpectedly.",
                    "upstream_error",
                ),
            };
            tracing::warn!(code, "upstream stream cut after the first byte");
            Ending::Cut { message, code }
        }
    })
}
