//! Relaying answers when the client or the provider speaks Anthropic's format (the OpenAI
//! passthrough stays in `relay.rs`): an Anthropic answer passed through (model swapped, event
//! framing kept), or an answer translated between the formats.
//!
//! Same rules as `relay.rs`: Start goes out just before the first Data frame; events without
//! output are held until the first output so a provider failing before its first token can
//! still be replaced; once a byte went out a cut stream ends with an error event in the client's
//! format, and exactly one Usage follows.

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::anthropic::{self, ErrorKind, MessagesResponse};
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::{self, ChatCompletion};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use crate::chat::{Call, Gone};
use crate::dialect::{Mode, dropped};
use crate::native::{self, NativeKind};
use crate::relay::{
    Cut, Ending, MAX_BODY, MAX_EVENT, MAX_HELD, Relayed, ending, first_byte, next_chunk, start,
};
use crate::stream_codec::Codec;
use tollgate_formats::bedrock::{EventStreamDecoder, Frame};

const ANTHROPIC_SSE: &str = "text/event-stream";

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A whole answer in the client's format, and its usage (`None`: the provider said none).
fn translate_body(
    mode: &Mode,
    body: &[u8],
    shown: &str,
    request_id: &str,
) -> Result<(Bytes, Option<Usage>, u64), tollgate_formats::FormatError> {
    match mode {
        Mode::Native { .. } | Mode::GeminiEmbeddings { .. } => {
            let (out, usage, warnings) =
                native::translate_body(mode, body, shown, request_id, unix_now())?;
            dropped(&warnings);
            Ok((out, usage, 0))
        }
        Mode::Anthropic => {
            let usage = anthropic::usage_from_response(body)?;
            let out = openai::rewrite_chat_response_model(body, shown)?;
            Ok((out, usage, 0))
        }
        Mode::OpenAiFromAnthropic { json_tool, .. } => {
            let resp: MessagesResponse = translate::from_json(body)?;
            let usage = resp.usage.to_usage();
            let mut t =
                translate::anthropic_to_openai_response(resp, unix_now(), json_tool.as_deref());
            dropped(&t.warnings);
            shown.clone_into(&mut t.value.model);
            let out = serde_json::to_vec(&t.value)
                .map_err(|e| tollgate_formats::FormatError::InvalidJson(e.to_string()))?;
            Ok((Bytes::from(out), Some(usage), 0))
        }
        Mode::AnthropicFromOpenAi | Mode::OpenAi => {
            let info = openai::inspect_completion(body)?;
            let resp: ChatCompletion = translate::from_json(body)?;
            let mut t = translate::openai_to_anthropic_response(resp)?;
            dropped(&t.warnings);
            shown.clone_into(&mut t.value.model);
            let out = serde_json::to_vec(&t.value)
                .map_err(|e| tollgate_formats::FormatError::InvalidJson(e.to_string()))?;
            Ok((Bytes::from(out), info.usage, info.output_bytes))
        }
    }
}

pub(crate) async fn relay_body(
    cx: &mut Call<'_>,
    mode: &Mode,
    mut resp: reqwest::Response,
) -> Result<Relayed, Gone> {
    let mut buf = BytesMut::new();
    loop {
        match next_chunk(cx, &mut resp, false).await {
            Ok(Some(chunk)) => {
                first_byte(cx);
                if buf.len() + chunk.len() > MAX_BODY {
                    return Ok(Relayed::NotStarted(Cut::TooLarge));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(Cut::Cancelled) => return Err(Gone),
            Err(cut) => return Ok(Relayed::NotStarted(cut)),
        }
    }
    let Ok((body, usage, output_bytes)) = translate_body(mode, &buf, cx.shown, &cx.call.request_id)
    else {
        tracing::warn!("the provider's answer could not be read in its format");
        return Ok(Relayed::NotStarted(Cut::TooLarge));
    };
    cx.out.send(start(cx, openai::JSON_CONTENT_TYPE)).await?;
    cx.out.send(Kind::Data(body)).await?;
    let (usage, reported) = match (usage, mode) {
        (Some(u), _) => (u, true),
        (None, Mode::GeminiEmbeddings { prompt_tokens, .. }) => (
            Usage {
                input_tokens: *prompt_tokens,
                ..Usage::default()
            },
            false,
        ),
        (None, _) => {
            let mut meter = OutputMeter::default();
            meter.add_bytes(output_bytes);
            (estimate(cx, &meter), false)
        }
    };
    cx.out
        .send(cx.usage(usage, reported, rpc::Outcome::Completed))
        .await?;
    Ok(Relayed::Finished {
        ok: true,
        tail: None,
    })
}

/// The error event that ends a cut stream, in the client's format.
fn cut_event(mode: &Mode, message: &str, code: &'static str) -> Bytes {
    if mode.anthropic_client() {
        anthropic::stream_error_event(ErrorKind::Api, message)
    } else {
        openai::stream_error_event(message, "server_error", Some(code), None)
    }
}

pub(crate) async fn relay_stream(
    cx: &mut Call<'_>,
    mode: &Mode,
    mut resp: reqwest::Response,
) -> Result<Relayed, Gone> {
    let mut decoder = SseDecoder::new();
    // Bedrock streams are AWS event-stream frames, not SSE.
    let mut frames = matches!(
        mode,
        Mode::Native {
            kind: NativeKind::Bedrock,
            ..
        }
    )
    .then(EventStreamDecoder::new);
    let mut codec = Codec::new(mode, cx.shown, &cx.call.request_id);
    let mut started = false;
    let mut held = BytesMut::new();
    let mut done = false;
    let mut provider_error = false;
    // Reused for every upstream read: no allocation per chunk once it has grown.
    let mut items: Vec<Upstream> = Vec::new();
    let end = loop {
        let mut buf = BytesMut::new();
        let mut output = false;
        let mut refused = false;
        let mut eof = false;
        match next_chunk(cx, &mut resp, started).await {
            Ok(Some(chunk)) => {
                first_byte(cx);
                items.clear();
                if let Some(frames) = &mut frames {
                    frames.push(&chunk);
                    loop {
                        match frames.next_frame() {
                            Ok(Some(f)) => items.push(Upstream::Frame(f)),
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "a provider event-stream frame is corrupt");
                                items.push(Upstream::Corrupt);
                                break;
                            }
                        }
                    }
                } else {
                    decoder.push(&chunk);
                    if decoder.buffered() > MAX_EVENT {
                        break Some(Cut::TooLarge);
                    }
                    while let Some(ev) = decoder.next_event() {
                        items.push(Upstream::Sse(ev));
                    }
                }
                for item in &items {
                    let seen = match item {
                        Upstream::Sse(ev) => codec.event(ev, cx.shown, &mut buf),
                        Upstream::Frame(f) => codec.frame(f, &mut buf),
                        Upstream::Corrupt => codec.corrupt(&mut buf),
                    };
                    if seen.error && !started && !output {
                        refused = true;
                        break;
                    }
                    provider_error |= seen.error;
                    output |= seen.output;
                    if seen.done {
                        done = true;
                        break;
                    }
                }
            }
            Ok(None)
                if decoder.has_partial_event()
                    || frames
                        .as_ref()
                        .is_some_and(EventStreamDecoder::has_partial_frame) =>
            {
                break Some(Cut::Broken);
            }
            Ok(None) => {
                let seen = codec.eof(&mut buf);
                if !seen.done && !seen.error {
                    break Some(Cut::Broken);
                }
                done |= seen.done;
                provider_error |= seen.error;
                eof = true;
            }
            Err(cut) => break Some(cut),
        }
        if refused {
            break Some(Cut::Refused);
        }
        let data = if started {
            buf
        } else {
            held.extend_from_slice(&buf);
            if output || done || provider_error || held.len() > MAX_HELD {
                cx.out.send(start(cx, ANTHROPIC_SSE)).await?;
                started = true;
                held.split()
            } else {
                BytesMut::new()
            }
        };
        if !data.is_empty() {
            cx.out.send(Kind::Data(data.freeze())).await?;
            if output {
                let progress = rpc::Progress {
                    output_tokens: codec.meter().tokens(),
                    input_tokens: codec
                        .usage()
                        .map_or_else(|| cx.prompt_estimate(), |u| u.input_tokens),
                };
                cx.out.send(Kind::Progress(progress)).await?;
            }
        }
        if done || provider_error || eof {
            break None;
        }
    };
    codec.finish_warnings();

    let outcome = match ending(end, provider_error, started)? {
        Ending::Done(outcome) => outcome,
        Ending::NotStarted(cut) => return Ok(Relayed::NotStarted(cut)),
        Ending::Cut { message, code } => {
            cx.out
                .send(Kind::Data(cut_event(mode, message, code)))
                .await?;
            rpc::Outcome::Failed
        }
    };
    let (usage, by_provider) = match codec.usage() {
        Some(u) => (u, true),
        None => (estimate(cx, &codec.meter()), false),
    };
    cx.out.send(cx.usage(usage, by_provider, outcome)).await?;
    Ok(Relayed::Finished {
        ok: outcome == rpc::Outcome::Completed,
        tail: done.then_some(resp),
    })
}

/// One decoded upstream event.
enum Upstream {
    Sse(tollgate_formats::sse::SseEvent),
    Frame(Frame),
    /// A frame failed its checksum or framing: the stream cannot be trusted past it.
    Corrupt,
}

fn estimate(cx: &Call<'_>, meter: &OutputMeter) -> Usage {
    Usage {
        input_tokens: cx.prompt_estimate(),
        output_tokens: meter.tokens(),
        ..Usage::default()
    }
}
