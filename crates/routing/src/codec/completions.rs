//! Legacy Completions answers: the chat leg's answer (what the chat `inner` mode gives an OpenAI
//! chat client: a `chat.completion`, or `chat.completion.chunk` events and `[DONE]`) becomes a
//! `text_completion`, whole or chunk by chunk (`tollgate_formats::completions`). When the chat
//! leg is the OpenAI passthrough, the provider's chunks are read directly; otherwise the chat
//! leg's own codec translates each provider event to OpenAI chunks first, and its output is
//! decoded and fed on. A cut stream ends with OpenAI's error event, as chat streams do (the
//! relay's generic one).
//!
//! Ids: the completion is `cmpl-<request id>` (dashes removed), so it can be found from its
//! request id.

use bytes::{Bytes, BytesMut};
use tollgate_domain::Usage;
use tollgate_formats::FormatError;
use tollgate_formats::bedrock::Frame;
use tollgate_formats::completions::{
    ChatToCompletionsStream, CompletionStreamEvent, chat_to_completion,
};
use tollgate_formats::openai::OutputMeter;
use tollgate_formats::sse::SseEvent;

use super::chat_leg::{ChatLeg, pivot_id, whole_answer};
use super::{Seen, unix_now};
use crate::mode::{Mode, dropped, to_json};

/// The completion id for a call: `cmpl-` and the request id without its dashes.
pub(crate) fn completion_id(request_id: &str) -> String {
    pivot_id("cmpl-", request_id)
}

/// A whole chat answer (in `inner`'s provider format) as a `text_completion`, with its usage
/// and the output bytes it carried.
pub(crate) fn translate_body(
    inner: &Mode,
    body: &[u8],
    shown: &str,
    request_id: &str,
) -> Result<(Bytes, Option<Usage>, u64), FormatError> {
    let (completion, usage, output_bytes) = whole_answer(inner, body, shown, request_id)?;
    let mut t = chat_to_completion(completion, &completion_id(request_id), unix_now())?;
    dropped(&t.warnings);
    shown.clone_into(&mut t.value.model);
    Ok((to_json(&t.value)?, usage, output_bytes))
}

/// Per-stream state: the chat leg, then chat chunks to completion chunks.
pub(crate) struct FromChat {
    leg: ChatLeg,
    t: ChatToCompletionsStream,
    /// Reused for every event.
    events: Vec<CompletionStreamEvent>,
}

impl FromChat {
    pub(crate) fn new(inner: &Mode, include_usage: bool, shown: &str, request_id: &str) -> Self {
        FromChat {
            leg: ChatLeg::new(inner, shown, request_id),
            t: ChatToCompletionsStream::new(
                &completion_id(request_id),
                shown,
                unix_now(),
                include_usage,
            ),
            events: Vec::new(),
        }
    }

    /// One upstream SSE event.
    pub(crate) fn event(&mut self, ev: &SseEvent, buf: &mut BytesMut) -> Seen {
        let (t, events) = (&mut self.t, &mut self.events);
        self.leg.event(ev, |data| chat_data(t, events, data));
        self.emit(buf)
    }

    /// One Bedrock event-stream frame (`None`: the framing broke).
    pub(crate) fn frame(&mut self, f: Option<&Frame>, buf: &mut BytesMut) -> Seen {
        let (t, events) = (&mut self.t, &mut self.events);
        self.leg.frame(f, |data| chat_data(t, events, data));
        self.emit(buf)
    }

    /// The upstream body ended: what the chat leg makes of it, then the completion stream's
    /// end (an error event when the answer never finished).
    pub(crate) fn eof(&mut self, buf: &mut BytesMut) -> Seen {
        let (t, events) = (&mut self.t, &mut self.events);
        self.leg.eof(|data| chat_data(t, events, data));
        if !self.t.is_done() {
            self.t.finish(&mut self.events);
        }
        self.emit(buf)
    }

    /// Writes (and empties) the translated events, each chunk's `model` the public name.
    fn emit(&mut self, buf: &mut BytesMut) -> Seen {
        let mut seen = Seen::default();
        for mut e in self.events.drain(..) {
            match &mut e {
                CompletionStreamEvent::Chunk(c) => {
                    self.leg.shown().clone_into(&mut c.model);
                    seen.output |= c.choices.iter().any(|ch| !ch.text.is_empty());
                }
                CompletionStreamEvent::Error { .. } => seen.error = true,
                CompletionStreamEvent::Done => seen.done = true,
            }
            buf.extend_from_slice(&e.encode());
        }
        seen
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        self.leg.usage()
    }

    pub(crate) fn meter(&self) -> OutputMeter {
        self.leg.meter()
    }

    pub(crate) fn finish_warnings(&self) {
        self.leg.finish_warnings();
        dropped(self.t.warnings());
    }
}

/// One chat `data:` payload into the translator.
fn chat_data(t: &mut ChatToCompletionsStream, events: &mut Vec<CompletionStreamEvent>, data: &str) {
    if let Err(e) = t.push_data(data, events) {
        tracing::warn!(error = %e, "a chat stream event could not be read");
        // Unreadable: the answer cannot be trusted to be whole.
        events.push(CompletionStreamEvent::Error {
            message: "The upstream provider sent an unreadable stream event.".to_owned(),
            kind: "server_error".to_owned(),
            code: Some("upstream_error".to_owned()),
        });
        // Nothing after this event reaches the client.
        let mut ignored = Vec::new();
        t.finish(&mut ignored);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tollgate_formats::sse::SseDecoder;

    use super::*;
    use crate::codec::Codec;

    const ID: &str = "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b";

    /// The data of every SSE event in `bytes` (`[DONE]` as a string).
    fn datas(bytes: &[u8]) -> Vec<Value> {
        let mut d = SseDecoder::new();
        d.push(bytes);
        std::iter::from_fn(|| d.next_event())
            .map(|e| serde_json::from_str(&e.data).unwrap_or(Value::String(e.data)))
            .collect()
    }

    fn sse(name: Option<&str>, data: &str) -> SseEvent {
        let mut d = SseDecoder::new();
        let event = name.map(|n| format!("event: {n}\n")).unwrap_or_default();
        d.push(format!("{event}data: {data}\n\n").as_bytes());
        d.next_event().unwrap()
    }

    fn chunk(delta: Value, finish: Option<&str>) -> String {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    }

    fn completions(inner: Mode, include_usage: bool) -> Codec {
        Codec::new(
            &Mode::CompletionsFromChat {
                inner: Box::new(inner),
                include_usage,
            },
            "public",
            ID,
        )
    }

    #[test]
    fn the_completion_id_is_the_request_id_without_dashes() {
        assert_eq!(completion_id(ID), "cmpl-0190a0b1c2d37e4f8a9b0c1d2e3f4a5b");
    }

    #[test]
    fn a_whole_chat_answer_becomes_a_text_completion_with_its_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"This is a test."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}"#;
        let (out, usage, _) = translate_body(&Mode::OpenAi, body, "public", ID).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], completion_id(ID));
        assert_eq!(v["object"], "text_completion");
        assert_eq!(v["model"], "public");
        assert_eq!(v["choices"][0]["text"], "This is a test.");
        assert_eq!(v["choices"][0]["logprobs"], Value::Null);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["total_tokens"], 17);
        let u = usage.unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (12, 5));
    }

    #[test]
    fn a_whole_anthropic_answer_goes_through_the_chat_leg_first() {
        let inner = Mode::OpenAiFromAnthropic {
            json_tool: None,
            include_usage: false,
        };
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"bonjour"}],"stop_reason":"max_tokens","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":16}}"#;
        let (out, usage, _) = translate_body(&inner, body, "public", ID).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["text"], "bonjour");
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        assert_eq!(v["usage"]["completion_tokens"], 16);
        assert_eq!(usage.unwrap().output_tokens, 16);
    }

    #[test]
    fn a_chat_stream_becomes_completion_chunks_with_exact_usage() {
        let mut c = completions(Mode::OpenAi, true);
        let usage = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":3,"total_tokens":33}}"#;
        let mut buf = BytesMut::new();
        let mut seen = Seen::default();
        for data in [
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": "Hel"}), None),
            chunk(json!({"content": "lo"}), None),
            chunk(json!({}), Some("stop")),
            usage.to_owned(),
        ] {
            seen.merge(c.event(&sse(None, &data), "public", &mut buf));
        }
        assert!(seen.output && seen.done && !seen.error);
        let d = datas(&buf);
        assert_eq!(d.len(), 5, "{d:?}");
        assert!(d[..4].iter().all(|c| c["object"] == "text_completion"
            && c["model"] == "public"
            && c["id"] == completion_id(ID)));
        assert_eq!(d[0]["choices"][0]["text"], "Hel");
        assert_eq!(d[2]["choices"][0]["finish_reason"], "stop");
        assert_eq!(d[3]["choices"], json!([]));
        assert_eq!(d[3]["usage"]["completion_tokens"], 3);
        assert_eq!(d[4], "[DONE]");
        let u = c.usage().unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (30, 3));
    }

    #[test]
    fn an_anthropic_stream_goes_through_the_chat_leg_first() {
        let mut c = completions(
            Mode::OpenAiFromAnthropic {
                json_tool: None,
                include_usage: true,
            },
            false,
        );
        let mut buf = BytesMut::new();
        let mut seen = Seen::default();
        for (name, data) in [
            (
                "message_start",
                r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[],"stop_reason":null,"usage":{"input_tokens":11,"output_tokens":1}}}"#,
            ),
            (
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            (
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"salut"}}"#,
            ),
            (
                "content_block_stop",
                r#"{"type":"content_block_stop","index":0}"#,
            ),
            (
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":4}}"#,
            ),
            ("message_stop", r#"{"type":"message_stop"}"#),
        ] {
            seen.merge(c.event(&sse(Some(name), data), "public", &mut buf));
        }
        assert!(seen.output && seen.done && !seen.error);
        let d = datas(&buf);
        let text: String = d
            .iter()
            .filter_map(|c| c["choices"][0]["text"].as_str())
            .collect();
        assert_eq!(text, "salut");
        // The client did not ask for the usage chunk; billing still gets the usage.
        assert!(d.iter().all(|c| c.get("usage").is_none()));
        assert_eq!(d.last().unwrap(), "[DONE]");
        assert_eq!(c.usage().unwrap().output_tokens, 4);
    }

    #[test]
    fn a_stream_cut_before_its_finish_ends_with_an_openai_error_event() {
        let mut c = completions(Mode::OpenAi, true);
        let mut buf = BytesMut::new();
        c.event(
            &sse(None, &chunk(json!({"content": "Hel"}), None)),
            "public",
            &mut buf,
        );
        let seen = c.eof(&mut buf);
        assert!(seen.error && !seen.done);
        let d = datas(&buf);
        assert_eq!(d.last().unwrap()["error"]["type"], "server_error");
        // The gateway's own cuts use the relay's OpenAI-shaped event.
        assert!(c.cut("cut").is_none());
    }
}
