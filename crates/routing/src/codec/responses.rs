//! Responses API answers for deployments reached through the chat pivot: the chat leg's answer
//! (what the chat `inner` mode gives an OpenAI chat client: a `chat.completion`, or
//! `chat.completion.chunk` events and `[DONE]`) becomes a Response, whole or event by event
//! (`tollgate_formats::responses`). When the chat leg is the OpenAI passthrough, the provider's
//! chunks are read directly; otherwise the chat leg's own codec translates each provider event
//! to OpenAI chunks first, and its output is decoded and fed on.
//!
//! Ids: the Response is `resp_<request id>` (dashes removed), so a call's Response can be found
//! from its request id; its items' ids derive from it.

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::FormatError;
use tollgate_formats::bedrock::Frame;
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::responses::{
    ChatToResponsesStream, EventBody, ResponsesStreamEvent, chat_to_responses_response,
};
use tollgate_formats::sse::{SseDecoder, SseEvent};
use tollgate_formats::translate::{self, ChatCompletion};

use super::stream::Codec;
use super::{Seen, unix_now};
use crate::mode::{Mode, ResponsesReq, dropped, to_json};

/// The Response id for a call: `resp_` and the request id without its dashes.
pub(crate) fn response_id(request_id: &str) -> String {
    let mut id = String::with_capacity(5 + request_id.len());
    id.push_str("resp_");
    id.extend(request_id.chars().filter(|c| *c != '-'));
    id
}

/// A whole chat answer (in `inner`'s provider format) as a Response, with its usage and the
/// output bytes it carried.
pub(crate) fn translate_body(
    inner: &Mode,
    req: &ResponsesReq,
    body: &[u8],
    shown: &str,
    request_id: &str,
) -> Result<(Bytes, Option<Usage>, u64), FormatError> {
    let (chat, usage, output_bytes) = match inner {
        Mode::OpenAi => {
            let info = openai::inspect_completion(body)?;
            (Bytes::copy_from_slice(body), info.usage, info.output_bytes)
        }
        _ => super::translate_body(inner, body, shown, request_id)?,
    };
    let completion: ChatCompletion = translate::from_json(&chat)?;
    let mut t =
        chat_to_responses_response(completion, &req.0, &response_id(request_id), unix_now())?;
    dropped(&t.warnings);
    shown.clone_into(&mut t.value.model);
    Ok((to_json(&t.value)?, usage, output_bytes))
}

/// Per-stream state: the chat leg's codec (none for the OpenAI passthrough), then chat chunks
/// to Responses events.
pub(crate) struct FromChat {
    inner: Option<Codec>,
    /// The chat leg's output, decoded back into events.
    decoder: SseDecoder,
    scratch: BytesMut,
    t: ChatToResponsesStream,
    /// Reused for every event.
    events: Vec<ResponsesStreamEvent>,
    shown: String,
    /// Passthrough chat leg: usage and output read from the provider's chunks.
    usage: Option<Usage>,
    meter: OutputMeter,
}

impl FromChat {
    pub(crate) fn new(inner: &Mode, req: &ResponsesReq, shown: &str, request_id: &str) -> Self {
        let inner = (*inner != Mode::OpenAi).then(|| Codec::new(inner, shown, request_id));
        FromChat {
            inner,
            decoder: SseDecoder::new(),
            scratch: BytesMut::new(),
            t: ChatToResponsesStream::new(&req.0, &response_id(request_id), unix_now()),
            events: Vec::new(),
            shown: shown.to_owned(),
            usage: None,
            meter: OutputMeter::default(),
        }
    }

    /// One upstream SSE event.
    pub(crate) fn event(&mut self, ev: &SseEvent, buf: &mut BytesMut) -> Seen {
        match &mut self.inner {
            Some(inner) => {
                inner.event(ev, &self.shown, &mut self.scratch);
                self.drain(buf)
            }
            None => {
                if let Ok(info) = openai::inspect_chunk(&ev.data) {
                    if info.usage.is_some() {
                        self.usage = info.usage;
                    }
                    self.meter.add_chunk(&info);
                }
                self.chat_data(&ev.data);
                self.emit(buf)
            }
        }
    }

    /// One Bedrock event-stream frame (`corrupt`: the framing broke).
    pub(crate) fn frame(&mut self, f: Option<&Frame>, buf: &mut BytesMut) -> Seen {
        let Some(inner) = &mut self.inner else {
            return Seen::default();
        };
        match f {
            Some(f) => inner.frame(f, &mut self.scratch),
            None => inner.corrupt(&mut self.scratch),
        };
        self.drain(buf)
    }

    /// The upstream body ended: what the chat leg makes of it, then the Response's end (a
    /// `response.failed` when the answer never finished).
    pub(crate) fn eof(&mut self, buf: &mut BytesMut) -> Seen {
        let mut seen = Seen::default();
        if let Some(inner) = &mut self.inner {
            inner.eof(&mut self.scratch);
            seen.merge(self.drain(buf));
        }
        if !self.t.is_done() {
            self.t.finish(&mut self.events);
            seen.merge(self.emit(buf));
        }
        seen
    }

    /// The gateway cut the stream after its first byte: `response.failed`.
    pub(crate) fn cut(&mut self, message: &str, buf: &mut BytesMut) {
        self.t.fail("server_error", message, &mut self.events);
        self.emit(buf);
    }

    /// Feeds the chat leg's output, as events, to the translator.
    fn drain(&mut self, buf: &mut BytesMut) -> Seen {
        self.decoder.push(&self.scratch);
        self.scratch.clear();
        while let Some(ev) = self.decoder.next_event() {
            self.chat_data(&ev.data);
        }
        self.emit(buf)
    }

    fn chat_data(&mut self, data: &str) {
        if let Err(e) = self.t.push_data(data, &mut self.events) {
            tracing::warn!(error = %e, "a chat stream event could not be read");
            self.t.fail(
                "server_error",
                "The upstream provider sent an unreadable stream event.",
                &mut self.events,
            );
        }
    }

    /// Writes (and empties) the translated events, the Response's `model` the public name.
    fn emit(&mut self, buf: &mut BytesMut) -> Seen {
        let mut seen = Seen::default();
        for mut e in self.events.drain(..) {
            match &mut e.body {
                EventBody::Created { response }
                | EventBody::InProgress { response }
                | EventBody::Completed { response }
                | EventBody::Incomplete { response }
                | EventBody::Failed { response } => {
                    self.shown.clone_into(&mut response.model);
                }
                EventBody::OutputTextDelta { .. }
                | EventBody::RefusalDelta { .. }
                | EventBody::FunctionCallArgumentsDelta { .. }
                | EventBody::ReasoningSummaryTextDelta { .. } => seen.output = true,
                // A call's name is output even before its arguments.
                EventBody::OutputItemAdded { .. } => seen.output = true,
                _ => {}
            }
            match &e.body {
                EventBody::Completed { .. } | EventBody::Incomplete { .. } => seen.done = true,
                EventBody::Failed { .. } => seen.error = true,
                _ => {}
            }
            buf.extend_from_slice(&e.encode());
        }
        seen
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        match &self.inner {
            Some(inner) => inner.usage(),
            None => self.usage,
        }
    }

    pub(crate) fn meter(&self) -> OutputMeter {
        match &self.inner {
            Some(inner) => inner.meter(),
            None => self.meter,
        }
    }

    pub(crate) fn finish_warnings(&self) {
        if let Some(inner) = &self.inner {
            inner.finish_warnings();
        }
        dropped(self.t.warnings());
    }
}
