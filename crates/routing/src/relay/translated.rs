//! Relaying every answer that goes through a codec: an Anthropic answer passed through (model
//! swapped, event framing kept), an answer translated between OpenAI's and Anthropic's formats,
//! a Gemini or Bedrock answer translated back, or a Responses API answer (relayed from a provider
//! that speaks it, or made from a chat leg's answer) (`crate::codec` does the translating; this
//! module reads the upstream body and sends the frames, under the rules in `relay/mod.rs`).

use bytes::BytesMut;
use tollgate_domain::Usage;
use tollgate_formats::bedrock::{EventStreamDecoder, Frame};
use tollgate_formats::openai;
use tollgate_formats::sse::{SseDecoder, SseEvent};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use super::ending::{Closed, close};
use super::{
    Cut, Gate, MAX_EVENT, Read, Relayed, finish, first_byte, next_chunk, progress, read_body,
    start, usage_or_estimate,
};
use crate::call::{Call, Gone};
use crate::codec::{Codec, bytes_meter, translate_body};
use crate::mode::{Mode, NativeKind};

/// Every translated stream is SSE on the client's side.
const SSE: &str = "text/event-stream";

/// A whole answer: read, translated into the client's format, sent as one Data frame.
pub(super) async fn body(cx: &mut Call<'_>, mut resp: reqwest::Response) -> Result<Relayed, Gone> {
    let body = match read_body(cx, &mut resp).await? {
        Ok(body) => body,
        Err(cut) => return Ok(Relayed::NotStarted(cut)),
    };
    let Ok((body, usage, output_bytes)) =
        translate_body(cx.mode, &body, cx.shown, &cx.call.request_id)
    else {
        tracing::warn!("the provider's answer could not be read in its format");
        return Ok(Relayed::NotStarted(Cut::TooLarge));
    };
    cx.out.send(start(cx, openai::JSON_CONTENT_TYPE)).await?;
    cx.out.send(Kind::Data(body)).await?;
    let usage = match (usage, cx.mode) {
        (None, Mode::GeminiEmbeddings { prompt_tokens, .. }) => {
            let usage = Usage {
                input_tokens: *prompt_tokens,
                ..Usage::default()
            };
            (usage, false)
        }
        (usage, _) => usage_or_estimate(cx, usage, bytes_meter(output_bytes)),
    };
    finish(cx, usage, rpc::Outcome::Completed, None).await
}

/// A stream: each upstream read is decoded (SSE events, or AWS event-stream frames for
/// Bedrock), translated by the codec, and leaves as one Data frame once the [`Gate`] opened;
/// until the stream's proper end, the provider's error, the body's end or a cut.
pub(super) async fn stream(
    cx: &mut Call<'_>,
    mut resp: reqwest::Response,
) -> Result<Relayed, Gone> {
    let mut s = Stream::new(cx);
    let end = loop {
        let read = match next_chunk(cx, &mut resp, s.gate.started).await {
            Ok(Some(chunk)) => {
                first_byte(cx);
                s.read_chunk(cx, &chunk)
            }
            Ok(None) => s.at_eof(),
            Err(cut) => Err(cut),
        };
        let read = match read {
            Ok(read) if read.refused => break Some(Cut::Refused),
            Ok(read) => read,
            Err(cut) => break Some(cut),
        };
        let eof = read.eof;
        s.forward(cx, read).await?;
        if s.done || s.provider_error || eof {
            break None;
        }
    };
    s.codec.finish_warnings();
    s.finish(cx, end, resp).await
}

/// One decoded upstream event.
enum Upstream {
    Sse(SseEvent),
    Frame(Frame),
    /// A frame failed its checksum or framing: the stream cannot be trusted past it.
    Corrupt,
}

/// One translated stream's state.
struct Stream {
    decoder: SseDecoder,
    /// Bedrock streams are AWS event-stream frames, not SSE.
    frames: Option<EventStreamDecoder>,
    codec: Codec,
    /// Reused for every upstream read: no allocation per chunk once it has grown.
    items: Vec<Upstream>,
    gate: Gate,
    /// The stream's proper end came.
    done: bool,
    provider_error: bool,
}

impl Stream {
    fn new(cx: &Call<'_>) -> Stream {
        let bedrock = matches!(
            cx.mode.upstream(),
            Mode::Native {
                kind: NativeKind::Bedrock,
                ..
            }
        );
        Stream {
            decoder: SseDecoder::new(),
            frames: bedrock.then(EventStreamDecoder::new),
            codec: Codec::new(cx.mode, cx.shown, &cx.call.request_id),
            items: Vec::new(),
            gate: Gate::new(SSE),
            done: false,
            provider_error: false,
        }
    }

    /// One upstream read, decoded and translated.
    fn read_chunk(&mut self, cx: &Call<'_>, chunk: &[u8]) -> Result<Read, Cut> {
        self.decode(chunk)?;
        Ok(self.translate(cx))
    }

    /// The events (or frames) complete after this read, into `items`.
    fn decode(&mut self, chunk: &[u8]) -> Result<(), Cut> {
        self.items.clear();
        if let Some(frames) = &mut self.frames {
            frames.push(chunk);
            loop {
                match frames.next_frame() {
                    Ok(Some(f)) => self.items.push(Upstream::Frame(f)),
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "a provider event-stream frame is corrupt");
                        self.items.push(Upstream::Corrupt);
                        break;
                    }
                }
            }
            return Ok(());
        }
        self.decoder.push(chunk);
        if self.decoder.buffered() > MAX_EVENT {
            return Err(Cut::TooLarge);
        }
        while let Some(ev) = self.decoder.next_event() {
            self.items.push(Upstream::Sse(ev));
        }
        Ok(())
    }

    /// `items` in the client's format, with what they showed.
    fn translate(&mut self, cx: &Call<'_>) -> Read {
        let mut read = Read::default();
        for item in &self.items {
            let seen = match item {
                Upstream::Sse(ev) => self.codec.event(ev, cx.shown, &mut read.buf),
                Upstream::Frame(f) => self.codec.frame(f, &mut read.buf),
                Upstream::Corrupt => self.codec.corrupt(&mut read.buf),
            };
            if seen.error && !self.gate.started && !read.output {
                read.refused = true;
                break;
            }
            self.provider_error |= seen.error;
            read.output |= seen.output;
            if seen.done {
                self.done = true;
                break;
            }
        }
        read
    }

    /// The upstream body ended: what the codec makes of it, or a broken stream when an event
    /// was left half-read or the stream never ended properly.
    fn at_eof(&mut self) -> Result<Read, Cut> {
        let partial = self.decoder.has_partial_event()
            || self
                .frames
                .as_ref()
                .is_some_and(EventStreamDecoder::has_partial_frame);
        if partial {
            return Err(Cut::Broken);
        }
        let mut buf = BytesMut::new();
        let seen = self.codec.eof(&mut buf);
        if !seen.done && !seen.error {
            return Err(Cut::Broken);
        }
        self.done |= seen.done;
        self.provider_error |= seen.error;
        Ok(Read {
            buf,
            eof: true,
            ..Read::default()
        })
    }

    /// Send what this read may send now, with the tokens delivered so far.
    async fn forward(&mut self, cx: &Call<'_>, read: Read) -> Result<(), Gone> {
        let open = read.output || self.done || self.provider_error;
        let codec = &self.codec;
        let progress = || {
            let input = codec.usage().map(|u| u.input_tokens);
            progress(cx, codec.meter().tokens(), input)
        };
        self.gate
            .send(cx, read.buf, open, read.output, progress)
            .await
    }

    /// The error event if the stream was cut after its first byte, then the Usage frame.
    async fn finish(
        mut self,
        cx: &Call<'_>,
        end: Option<Cut>,
        resp: reqwest::Response,
    ) -> Result<Relayed, Gone> {
        let codec = &mut self.codec;
        let closed = close(cx, end, self.provider_error, self.gate.started, |message| {
            codec.cut(message)
        });
        let outcome = match closed.await? {
            Closed::Ended(outcome) => outcome,
            Closed::NotStarted(cut) => return Ok(Relayed::NotStarted(cut)),
        };
        let usage = usage_or_estimate(cx, self.codec.usage(), self.codec.meter());
        finish(cx, usage, outcome, self.done.then_some(resp)).await
    }
}
