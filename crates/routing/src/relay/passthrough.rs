//! The OpenAI passthrough: an OpenAI-compatible provider's answer to an OpenAI client, relayed as
//! the provider's bytes. Only the top-level `model` of the body and of every stream chunk is
//! replaced by the name shown to the client (a splice at the byte range found while reading the
//! chunk for usage, so no re-serialisation).

use bytes::Bytes;
use tollgate_domain::Usage;
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::{self, SseDecoder};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc};

use super::ending::{Closed, close};
use super::{
    Cut, Gate, MAX_EVENT, Read, Relayed, estimate, finish, first_byte, next_chunk, progress,
    read_body, start, usage_or_estimate,
};
use crate::call::{Call, Gone};
use crate::codec::bytes_meter;

/// A whole answer: read, `model` swapped, sent as one Data frame.
pub(super) async fn body(cx: &mut Call<'_>, mut resp: reqwest::Response) -> Result<Relayed, Gone> {
    let body = match read_body(cx, &mut resp).await? {
        Ok(body) => body,
        Err(cut) => return Ok(Relayed::NotStarted(cut)),
    };
    let (body, usage) = match openai::inspect_completion(&body) {
        Ok(info) => {
            let usage = info
                .usage
                .map(|u| (u, true))
                .unwrap_or_else(|| (estimate(cx, bytes_meter(info.output_bytes)), false));
            (openai::replace_model(&body, info.model, cx.shown), usage)
        }
        // Not a chat completion (a 2xx with some other body): relay it untouched, estimate.
        Err(_) => (body, (estimate(cx, OutputMeter::default()), false)),
    };
    cx.out.send(start(cx, openai::JSON_CONTENT_TYPE)).await?;
    cx.out.send(Kind::Data(body)).await?;
    finish(cx, usage, rpc::Outcome::Completed, None).await
}

/// A stream: each upstream read leaves as one Data frame (once the [`Gate`] opened), until
/// `[DONE]`, the provider's error, the body's end or a cut.
pub(super) async fn stream(
    cx: &mut Call<'_>,
    mut resp: reqwest::Response,
) -> Result<Relayed, Gone> {
    let mut s = Stream::new();
    let end = loop {
        let chunk = match next_chunk(cx, &mut resp, s.gate.started).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) if s.decoder.has_partial_event() => break Some(Cut::Broken),
            Ok(None) => break None,
            Err(cut) => break Some(cut),
        };
        first_byte(cx);
        s.decoder.push(&chunk);
        if s.decoder.buffered() > MAX_EVENT {
            break Some(Cut::TooLarge);
        }
        let read = s.read_events(cx);
        if read.refused {
            break Some(Cut::Refused);
        }
        s.forward(cx, read).await?;
        if s.done || s.provider_error {
            break None;
        }
    };
    s.finish(cx, end, resp).await
}

/// One passthrough stream's state.
struct Stream {
    decoder: SseDecoder,
    meter: OutputMeter,
    reported: Option<Usage>,
    gate: Gate,
    /// `[DONE]` came.
    done: bool,
    provider_error: bool,
}

impl Stream {
    fn new() -> Stream {
        Stream {
            decoder: SseDecoder::new(),
            meter: OutputMeter::default(),
            reported: None,
            gate: Gate::new(openai::SSE_CONTENT_TYPE),
            done: false,
            provider_error: false,
        }
    }

    /// The events decoded so far, `model` swapped, with usage and output noted. Everything that
    /// arrived together leaves together: one Data frame per upstream read.
    fn read_events(&mut self, cx: &Call<'_>) -> Read {
        let mut read = Read::default();
        while let Some(ev) = self.decoder.next_event() {
            if ev.data == sse::DONE_DATA {
                read.buf.extend_from_slice(sse::DONE);
                self.done = true;
                break;
            }
            match openai::inspect_chunk(&ev.data) {
                Ok(info) => {
                    if info.usage.is_some() {
                        self.reported = info.usage;
                    }
                    if info.error && !self.gate.started {
                        read.refused = true;
                        break;
                    }
                    self.provider_error |= info.error;
                    if info.usage_only && !cx.call.include_usage {
                        continue;
                    }
                    self.meter.add_chunk(&info);
                    read.output |= info.output_deltas > 0;
                    openai::put_chunk_event(
                        &mut read.buf,
                        ev.data.as_bytes(),
                        info.model,
                        cx.shown,
                    );
                }
                // Not JSON (a comment-like payload some servers send): pass it through.
                Err(_) => read
                    .buf
                    .extend_from_slice(&sse::encode_data(ev.data.as_bytes())),
            }
        }
        read
    }

    /// Send what this read may send now, with the tokens delivered so far.
    async fn forward(&mut self, cx: &Call<'_>, read: Read) -> Result<(), Gone> {
        let open = read.output || self.done || self.provider_error;
        let (meter, reported) = (self.meter, self.reported);
        let progress = || progress(cx, meter.tokens(), reported.map(|u| u.input_tokens));
        self.gate
            .send(cx, read.buf, open, read.output, progress)
            .await
    }

    /// End the stream properly (error event, or `[DONE]` when the provider left it out), then
    /// the Usage frame.
    async fn finish(
        mut self,
        cx: &Call<'_>,
        end: Option<Cut>,
        resp: reqwest::Response,
    ) -> Result<Relayed, Gone> {
        let started = self.gate.started;
        let outcome = match close(cx, end, self.provider_error, started, |_| None).await? {
            Closed::Ended(outcome) => outcome,
            Closed::NotStarted(cut) => return Ok(Relayed::NotStarted(cut)),
        };
        if !started && outcome == rpc::Outcome::Completed {
            // A stream without output that ended cleanly: the client still gets what there was
            // and a stream that ends properly.
            cx.out.send(start(cx, openai::SSE_CONTENT_TYPE)).await?;
            self.gate.held.extend_from_slice(sse::DONE);
            cx.out.send(Kind::Data(self.gate.held.freeze())).await?;
        } else if !self.done && outcome == rpc::Outcome::Completed {
            // The provider closed cleanly without `[DONE]`; clients expect it.
            cx.out
                .send(Kind::Data(Bytes::from_static(sse::DONE)))
                .await?;
        }
        let usage = usage_or_estimate(cx, self.reported, self.meter);
        finish(cx, usage, outcome, self.done.then_some(resp)).await
    }
}
