//! Per-stream state for every streamed answer that is not the OpenAI passthrough (Anthropic's
//! format passed through or produced, native streams): one upstream event in, the client's bytes
//! out, plus what the relay must know ([`Seen`]) and the usage so far.

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::anthropic::{self, StreamEvent, StreamUsage};
use tollgate_formats::openai::{self, OutputMeter};
use tollgate_formats::sse::SseEvent;
use tollgate_formats::translate::{
    AnthropicToOpenAiStream, OpenAiStreamEvent, OpenAiToAnthropicStream,
};

use tollgate_formats::bedrock::Frame;

use super::completions;
use super::native::{NativeEvent, NativeStream};
use super::responses::FromChat;
use super::responses_native::NativeResponses;
use super::{Seen, bytes_meter, unix_now};
use crate::mode::{Mode, dropped};

/// Per-stream state for each mode.
pub(crate) enum Codec {
    /// Gemini or Bedrock, to OpenAI (and on to Anthropic).
    Native(Box<NativeStream>),
    Anthropic(StreamUsage),
    ToOpenAi(AnthropicToOpenAiStream),
    ToAnthropic {
        t: OpenAiToAnthropicStream,
        meter: OutputMeter,
        usage: Option<Usage>,
    },
    /// A Responses API answer: a native one relayed, or a chat leg's answer translated.
    NativeResponses(NativeResponses),
    Responses(Box<FromChat>),
    /// A legacy Completions answer made from a chat leg's answer.
    Completions(Box<completions::FromChat>),
}

impl Codec {
    pub(crate) fn new(mode: &Mode, shown: &str, request_id: &str) -> Codec {
        if let Some(n) = NativeStream::new(mode, shown, request_id, unix_now()) {
            return Codec::Native(Box::new(n));
        }
        match mode {
            Mode::OpenAiResponses => Codec::NativeResponses(NativeResponses::default()),
            Mode::ResponsesFromChat { inner, req } => {
                Codec::Responses(Box::new(FromChat::new(inner, req, shown, request_id)))
            }
            Mode::CompletionsFromChat {
                inner,
                include_usage,
            } => Codec::Completions(Box::new(completions::FromChat::new(
                inner,
                *include_usage,
                shown,
                request_id,
            ))),
            Mode::Anthropic => Codec::Anthropic(StreamUsage::new()),
            Mode::OpenAiFromAnthropic {
                json_tool,
                include_usage,
            } => Codec::ToOpenAi(AnthropicToOpenAiStream::new(
                unix_now(),
                *include_usage,
                json_tool.clone(),
            )),
            // (`Native` was handled above; embeddings never stream.)
            _ => Codec::ToAnthropic {
                t: OpenAiToAnthropicStream::new(),
                meter: OutputMeter::default(),
                usage: None,
            },
        }
    }

    /// Translates one upstream event into `buf` (the client's format).
    pub(crate) fn event(&mut self, ev: &SseEvent, shown: &str, buf: &mut BytesMut) -> Seen {
        match self {
            Codec::Native(n) => n.event(NativeEvent::Data(&ev.data), buf),
            Codec::Anthropic(usage) => anthropic_event(usage, ev, shown, buf),
            Codec::NativeResponses(r) => r.event(ev, shown, buf),
            Codec::Responses(r) => r.event(ev, buf),
            Codec::Completions(c) => c.event(ev, buf),
            Codec::ToOpenAi(t) => anthropic_to_openai(t, ev, shown, buf),
            Codec::ToAnthropic { t, meter, usage } => {
                let mut seen = Seen::default();
                if let Ok(info) = openai::inspect_chunk(&ev.data) {
                    if info.usage.is_some() {
                        *usage = info.usage;
                    }
                    meter.add_chunk(&info);
                    seen.output = info.output_deltas > 0;
                }
                seen.merge(openai_to_anthropic(t, ev, shown, buf));
                seen
            }
        }
    }

    /// One Bedrock event-stream frame.
    pub(crate) fn frame(&mut self, f: &Frame, buf: &mut BytesMut) -> Seen {
        match self {
            Codec::Native(n) => n.event(NativeEvent::Frame(f), buf),
            Codec::Responses(r) => r.frame(Some(f), buf),
            Codec::Completions(c) => c.frame(Some(f), buf),
            _ => Seen::default(),
        }
    }

    /// The framing broke: end the stream with an error in the client's format.
    pub(crate) fn corrupt(&mut self, buf: &mut BytesMut) -> Seen {
        match self {
            Codec::Responses(r) => return r.frame(None, buf),
            Codec::Completions(c) => return c.frame(None, buf),
            _ => {}
        }
        let frame = Frame {
            message_type: "exception".into(),
            event_type: "internalServerException".into(),
            payload: Bytes::from_static(
                br#"{"message":"The provider's event stream was corrupt."}"#,
            ),
        };
        self.frame(&frame, buf)
    }

    /// The upstream body ended without the stream's proper end: what the translator makes of
    /// it (an OpenAI stream may end without `[DONE]`; Gemini's never has one).
    pub(crate) fn eof(&mut self, buf: &mut BytesMut) -> Seen {
        match self {
            Codec::Native(n) => return n.eof(buf),
            Codec::Responses(r) => return r.eof(buf),
            Codec::Completions(c) => return c.eof(buf),
            _ => {}
        }
        let mut seen = Seen::default();
        if let Codec::ToAnthropic { t, .. } = self {
            let mut out = Vec::new();
            t.finish(&mut out);
            for e in out {
                match e {
                    StreamEvent::MessageStop => seen.done = true,
                    StreamEvent::Error { .. } => seen.error = true,
                    _ => {}
                }
                buf.extend_from_slice(&e.encode());
            }
        }
        seen
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        match self {
            Codec::Native(n) => n.usage(),
            Codec::Anthropic(u) => u.usage(),
            Codec::ToOpenAi(t) => t.usage(),
            Codec::ToAnthropic { usage, .. } => *usage,
            Codec::NativeResponses(r) => r.usage(),
            Codec::Responses(r) => r.usage(),
            Codec::Completions(c) => c.usage(),
        }
    }

    pub(crate) fn meter(&self) -> OutputMeter {
        match self {
            Codec::Native(n) => n.meter(),
            Codec::Anthropic(u) => bytes_meter(u.output_bytes()),
            Codec::ToOpenAi(t) => bytes_meter(t.output_bytes()),
            Codec::ToAnthropic { meter, .. } => *meter,
            Codec::NativeResponses(r) => r.meter(),
            Codec::Responses(r) => r.meter(),
            Codec::Completions(c) => c.meter(),
        }
    }

    /// The event ending a stream the gateway cut after its first byte, when this codec's
    /// client format has its own (a Responses stream ends with `response.failed`); `None`: the
    /// client format's generic error event.
    pub(crate) fn cut(&mut self, message: &str) -> Option<Bytes> {
        match self {
            Codec::NativeResponses(r) => Some(r.cut(message, "server_error")),
            Codec::Responses(r) => {
                let mut buf = BytesMut::new();
                r.cut(message, &mut buf);
                Some(buf.freeze())
            }
            _ => None,
        }
    }

    pub(crate) fn finish_warnings(&self) {
        match self {
            Codec::ToOpenAi(t) => dropped(t.warnings()),
            Codec::ToAnthropic { t, .. } => dropped(t.warnings()),
            Codec::Native(n) => dropped(&n.warnings()),
            Codec::Responses(r) => r.finish_warnings(),
            Codec::Completions(c) => c.finish_warnings(),
            Codec::Anthropic(_) | Codec::NativeResponses(_) => {}
        }
    }
}

/// An Anthropic event passed through: framing kept, `message.model` renamed.
fn anthropic_event(
    usage: &mut StreamUsage,
    ev: &SseEvent,
    shown: &str,
    buf: &mut BytesMut,
) -> Seen {
    let info = usage.observe(&ev.data).unwrap_or_default();
    let name = ev.event.as_deref().unwrap_or("message");
    if name == "message_start" {
        buf.extend_from_slice(&message_start(&ev.data, shown));
    } else {
        buf.extend_from_slice(&anthropic::encode_event(name, ev.data.as_bytes()));
    }
    Seen {
        output: info.output_bytes > 0,
        error: info.error,
        done: info.stop,
    }
}

/// An Anthropic event as OpenAI chunks.
fn anthropic_to_openai(
    t: &mut AnthropicToOpenAiStream,
    ev: &SseEvent,
    shown: &str,
    buf: &mut BytesMut,
) -> Seen {
    let mut seen = Seen::default();
    let mut out = Vec::new();
    if t.push_data(&ev.data, &mut out).is_err() {
        return seen;
    }
    for mut e in out {
        match &mut e {
            OpenAiStreamEvent::Chunk(c) => {
                seen.output |= c.choices.iter().any(|ch| {
                    ch.delta.content.is_some()
                        || ch.delta.tool_calls.is_some()
                        || ch.delta.reasoning_content.is_some()
                });
                shown.clone_into(&mut c.model);
            }
            OpenAiStreamEvent::Error { .. } => seen.error = true,
            OpenAiStreamEvent::Done => seen.done = true,
        }
        buf.extend_from_slice(&e.encode());
    }
    seen
}

/// An OpenAI chunk as Anthropic events (output and usage are read by the caller).
fn openai_to_anthropic(
    t: &mut OpenAiToAnthropicStream,
    ev: &SseEvent,
    shown: &str,
    buf: &mut BytesMut,
) -> Seen {
    let mut seen = Seen::default();
    let mut out = Vec::new();
    if t.push_data(&ev.data, &mut out).is_err() {
        return seen;
    }
    for mut e in out {
        match &mut e {
            StreamEvent::MessageStart { message } => {
                shown.clone_into(&mut message.model);
            }
            StreamEvent::MessageStop => seen.done = true,
            StreamEvent::Error { .. } => seen.error = true,
            _ => {}
        }
        buf.extend_from_slice(&e.encode());
    }
    seen
}

/// `message_start` with `message.model` set to the name shown to the client.
fn message_start(data: &str, shown: &str) -> Bytes {
    match serde_json::from_str::<serde_json::Value>(data) {
        Ok(mut v) => {
            if let Some(m) = v.pointer_mut("/message/model") {
                *m = serde_json::Value::String(shown.to_owned());
            }
            let json = serde_json::to_vec(&v).unwrap_or_else(|_| data.as_bytes().to_vec());
            anthropic::encode_event("message_start", &json)
        }
        Err(_) => anthropic::encode_event("message_start", data.as_bytes()),
    }
}
