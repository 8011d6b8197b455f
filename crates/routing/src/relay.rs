//! Relaying a provider's 2xx answer to the edge as frames.
//!
//! Start is sent just before the first Data frame, so anything that fails earlier is still a
//! clean Failure the edge can answer with a proper status. Model names: the non-streaming body
//! and every stream chunk get their top-level `model` replaced by the name the client asked for
//! (a splice at the byte range found while reading the chunk for usage, so no re-serialisation).

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::{self, SseDecoder};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use crate::chat::{Call, Gone, cancelled};
use crate::{failure, upstream};

/// A non-streaming body larger than this is refused rather than buffered.
const MAX_BODY: usize = 32 * 1024 * 1024;
/// An SSE event larger than this means the upstream is not speaking SSE.
const MAX_EVENT: usize = 8 * 1024 * 1024;
/// After `[DONE]`, how long to wait for the body's end so the connection returns to the pool.
const DRAIN: std::time::Duration = std::time::Duration::from_millis(200);

/// How reading the upstream body ended early.
enum Cut {
    Cancelled,
    /// The provider's first event was an error object: nothing reached the client yet.
    Refused,
    Timeout,
    Broken,
    TooLarge,
}

/// The next body chunk, racing the deadline and the edge going away.
async fn next_chunk(cx: &Call<'_>, resp: &mut reqwest::Response) -> Result<Option<Bytes>, Cut> {
    tokio::select! {
        biased;
        () = cx.out.closed() => Err(Cut::Cancelled),
        r = tokio::time::timeout_at(cx.deadline, resp.chunk()) => match r {
            Err(_) => Err(Cut::Timeout),
            Ok(Err(e)) => {
                tracing::warn!(error = %e.without_url(), "upstream body failed");
                Err(Cut::Broken)
            }
            Ok(Ok(chunk)) => Ok(chunk),
        },
    }
}

fn start(cx: &Call<'_>, content_type: &str) -> Kind {
    Kind::Start(rpc::Start {
        status: 200,
        content_type: content_type.to_owned(),
        deployment: cx.deployment.id.clone(),
        provider: cx.deployment.provider.name.clone(),
        model: cx.model.name.clone(),
    })
}

/// Relay the answer; returns a streamed response whose tail is still to be drained (after the
/// frame stream is closed, so the edge is not kept waiting).
pub(crate) async fn relay(cx: &mut Call<'_>, resp: reqwest::Response) -> Option<reqwest::Response> {
    let r = if cx.call.stream {
        relay_stream(cx, resp).await
    } else {
        relay_body(cx, resp).await.map(|()| None)
    };
    // Gone: the edge left while we were sending; there is nobody to tell.
    r.unwrap_or_else(|Gone| {
        cancelled(cx);
        None
    })
}

/// Read to the end of a body (briefly) so its pooled connection can be reused.
pub(crate) async fn drain(mut resp: reqwest::Response) {
    let _ = tokio::time::timeout(DRAIN, async {
        while let Ok(Some(_)) = resp.chunk().await {}
    })
    .await;
}

async fn relay_body(cx: &mut Call<'_>, mut resp: reqwest::Response) -> Result<(), Gone> {
    let mut parts: Vec<Bytes> = Vec::with_capacity(1);
    let mut len = 0;
    loop {
        match next_chunk(cx, &mut resp).await {
            Ok(Some(chunk)) => {
                if cx.ttfb.is_none() {
                    let t = cx.sent_at.elapsed();
                    cx.ttfb = Some(t);
                    upstream::record_ttfb(cx.deployment, t);
                }
                len += chunk.len();
                if len > MAX_BODY {
                    return fail_before_data(cx, Cut::TooLarge).await;
                }
                parts.push(chunk);
            }
            Ok(None) => break,
            Err(cut) => return fail_before_data(cx, cut).await,
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
            (
                openai::replace_model(&body, info.model, &cx.call.model),
                usage,
            )
        }
        // Not a chat completion (a 2xx with some other body): relay it untouched, estimate.
        Err(_) => (body, (estimate(cx, OutputMeter::default()), false)),
    };
    cx.out.send(start(cx, openai::JSON_CONTENT_TYPE)).await?;
    cx.out.send(Kind::Data(body)).await?;
    let (usage, reported) = usage;
    cx.out
        .send(cx.usage(usage, reported, rpc::Outcome::Completed))
        .await
}

async fn relay_stream(
    cx: &mut Call<'_>,
    mut resp: reqwest::Response,
) -> Result<Option<reqwest::Response>, Gone> {
    let mut decoder = SseDecoder::new();
    let mut meter = OutputMeter::default();
    let mut reported: Option<Usage> = None;
    let mut input_estimate: Option<u64> = None;
    let mut started = false;
    let mut done = false;
    let mut provider_error = false;
    let end = loop {
        let chunk = match next_chunk(cx, &mut resp).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) if decoder.has_partial_event() => break Some(Cut::Broken),
            Ok(None) => break None,
            Err(cut) => break Some(cut),
        };
        if cx.ttfb.is_none() {
            let t = cx.sent_at.elapsed();
            cx.ttfb = Some(t);
            upstream::record_ttfb(cx.deployment, t);
        }
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
                    if info.error && !started && buf.is_empty() {
                        refused = true;
                        break;
                    }
                    provider_error |= info.error;
                    if info.usage_only && !cx.call.include_usage {
                        continue;
                    }
                    meter.add_chunk(&info);
                    output |= info.output_deltas > 0;
                    openai::put_chunk_event(
                        &mut buf,
                        ev.data.as_bytes(),
                        info.model,
                        &cx.call.model,
                    );
                }
                // Not JSON (a comment-like payload some servers send): pass it through.
                Err(_) => buf.extend_from_slice(&sse::encode_data(ev.data.as_bytes())),
            }
        }
        if !buf.is_empty() {
            if !started {
                cx.out.send(start(cx, openai::SSE_CONTENT_TYPE)).await?;
                started = true;
            }
            cx.out.send(Kind::Data(buf.freeze())).await?;
            if output {
                let input = match reported {
                    Some(u) => u.input_tokens,
                    None => *input_estimate.get_or_insert_with(|| cx.input_estimate()),
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

    let outcome = match (end, provider_error) {
        (Some(Cut::Cancelled), _) => return Err(Gone),
        (None, false) => rpc::Outcome::Completed,
        (None, true) => {
            tracing::warn!("the provider sent an error event mid-stream");
            rpc::Outcome::Failed
        }
        (Some(cut), _) if !started => return fail_before_data(cx, cut).await.map(|()| None),
        (Some(cut), _) => {
            let (message, code) = match cut {
                Cut::Timeout => (
                    "The upstream provider did not finish in time.",
                    "upstream_timeout",
                ),
                _ => (
                    "The upstream provider ended the stream unexpectedly.",
                    "upstream_error",
                ),
            };
            tracing::warn!(code, "upstream stream cut after the first byte");
            let event = openai::stream_error_event(message, "server_error", Some(code), None);
            cx.out.send(Kind::Data(event)).await?;
            rpc::Outcome::Failed
        }
    };
    if !started && outcome == rpc::Outcome::Completed {
        // An empty but well-formed stream: the client still gets a stream that ends properly.
        cx.out.send(start(cx, openai::SSE_CONTENT_TYPE)).await?;
        cx.out
            .send(Kind::Data(Bytes::from_static(sse::DONE)))
            .await?;
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
    Ok(done.then_some(resp))
}

/// Prompt estimate plus the output delivered, when the provider never reported usage.
fn estimate(cx: &Call<'_>, meter: OutputMeter) -> Usage {
    Usage {
        input_tokens: cx.input_estimate(),
        output_tokens: meter.tokens(),
        ..Usage::default()
    }
}

async fn fail_before_data(cx: &Call<'_>, cut: Cut) -> Result<(), Gone> {
    match cut {
        Cut::Cancelled => return Err(Gone),
        Cut::Timeout => cx.fail(failure::timeout()).await,
        Cut::Broken => cx.fail(failure::transport()).await,
        Cut::Refused => {
            cx.fail(failure::failure(
                rpc::FailureKind::UpstreamError,
                "The upstream provider reported an error instead of an answer.",
            ))
            .await
        }
        Cut::TooLarge => {
            cx.fail(failure::failure(
                rpc::FailureKind::UpstreamError,
                "The upstream provider sent a malformed or oversized answer.",
            ))
            .await
        }
    }
    Ok(())
}
