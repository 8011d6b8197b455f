//! The chat leg of an answer that reaches its client through the chat pivot (the Responses API
//! and legacy Completions): what the chat `inner` mode would give an OpenAI chat client, as chat
//! data, for the client format's own translator.
//!
//! When the chat leg is the OpenAI passthrough, the provider's chunks are the chat data and its
//! usage and output are read from them; otherwise the chat leg's own [`Codec`] translates each
//! provider event (SSE or Bedrock frame) to OpenAI chunks first, and its output is decoded back
//! into events and handed on.

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::FormatError;
use tollgate_formats::bedrock::Frame;
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::{SseDecoder, SseEvent};
use tollgate_formats::translate::{self, ChatCompletion};

use super::stream::Codec;
use crate::mode::Mode;

/// `prefix` and the request id without its dashes: the client-format id of a call's answer, so
/// it can be found from its request id (`resp_…`, `cmpl-…`).
pub(crate) fn pivot_id(prefix: &str, request_id: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + request_id.len());
    id.push_str(prefix);
    id.extend(request_id.chars().filter(|c| *c != '-'));
    id
}

/// A whole answer of the chat leg (in `inner`'s provider format) as a chat completion, with its
/// usage and the output bytes it carried.
pub(crate) fn whole_answer(
    inner: &Mode,
    body: &[u8],
    shown: &str,
    request_id: &str,
) -> Result<(ChatCompletion, Option<Usage>, u64), FormatError> {
    let (chat, usage, output_bytes) = match inner {
        Mode::OpenAi => {
            let info = openai::inspect_completion(body)?;
            (Bytes::copy_from_slice(body), info.usage, info.output_bytes)
        }
        _ => super::translate_body(inner, body, shown, request_id)?,
    };
    Ok((translate::from_json(&chat)?, usage, output_bytes))
}

/// Per-stream state of the chat leg.
pub(crate) struct ChatLeg {
    /// None for the OpenAI passthrough.
    inner: Option<Codec>,
    /// The inner codec's output, decoded back into events.
    decoder: SseDecoder,
    scratch: BytesMut,
    shown: String,
    /// Passthrough: usage and output read from the provider's chunks.
    usage: Option<Usage>,
    meter: OutputMeter,
}

impl ChatLeg {
    pub(crate) fn new(inner: &Mode, shown: &str, request_id: &str) -> Self {
        ChatLeg {
            inner: (*inner != Mode::OpenAi).then(|| Codec::new(inner, shown, request_id)),
            decoder: SseDecoder::new(),
            scratch: BytesMut::new(),
            shown: shown.to_owned(),
            usage: None,
            meter: OutputMeter::default(),
        }
    }

    /// The public model name the answer shows.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// One upstream SSE event: `on_data` gets each chat `data:` payload it comes to, in order.
    pub(crate) fn event(&mut self, ev: &SseEvent, mut on_data: impl FnMut(&str)) {
        match &mut self.inner {
            Some(inner) => {
                inner.event(ev, &self.shown, &mut self.scratch);
                self.drain(on_data);
            }
            None => {
                if let Ok(info) = openai::inspect_chunk(&ev.data) {
                    if info.usage.is_some() {
                        self.usage = info.usage;
                    }
                    self.meter.add_chunk(&info);
                }
                on_data(&ev.data);
            }
        }
    }

    /// One Bedrock event-stream frame (`None`: the framing broke).
    pub(crate) fn frame(&mut self, f: Option<&Frame>, on_data: impl FnMut(&str)) {
        let Some(inner) = &mut self.inner else {
            return;
        };
        match f {
            Some(f) => inner.frame(f, &mut self.scratch),
            None => inner.corrupt(&mut self.scratch),
        };
        self.drain(on_data);
    }

    /// The upstream body ended: what the inner codec makes of it.
    pub(crate) fn eof(&mut self, on_data: impl FnMut(&str)) {
        if let Some(inner) = &mut self.inner {
            inner.eof(&mut self.scratch);
            self.drain(on_data);
        }
    }

    fn drain(&mut self, mut on_data: impl FnMut(&str)) {
        self.decoder.push(&self.scratch);
        self.scratch.clear();
        while let Some(ev) = self.decoder.next_event() {
            on_data(&ev.data);
        }
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

    /// The inner codec's dropped-field warnings, counted.
    pub(crate) fn finish_warnings(&self) {
        if let Some(inner) = &self.inner {
            inner.finish_warnings();
        }
    }
}
