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
use tollgate_formats::openai::OutputMeter;
use tollgate_formats::responses::{
    ChatToResponsesStream, EventBody, ResponsesStreamEvent, chat_to_responses_response,
};
use tollgate_formats::sse::SseEvent;

use super::chat_leg::{ChatLeg, pivot_id, whole_answer};
use super::{Seen, unix_now};
use crate::mode::{Mode, ResponsesReq, dropped, to_json};

/// The Response id for a call: `resp_` and the request id without its dashes.
pub(crate) fn response_id(request_id: &str) -> String {
    pivot_id("resp_", request_id)
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
    let (completion, usage, output_bytes) = whole_answer(inner, body, shown, request_id)?;
    let mut t =
        chat_to_responses_response(completion, &req.0, &response_id(request_id), unix_now())?;
    dropped(&t.warnings);
    shown.clone_into(&mut t.value.model);
    Ok((to_json(&t.value)?, usage, output_bytes))
}

/// Per-stream state: the chat leg, then chat chunks to Responses events.
pub(crate) struct FromChat {
    leg: ChatLeg,
    t: ChatToResponsesStream,
    /// Reused for every event.
    events: Vec<ResponsesStreamEvent>,
}

impl FromChat {
    pub(crate) fn new(inner: &Mode, req: &ResponsesReq, shown: &str, request_id: &str) -> Self {
        FromChat {
            leg: ChatLeg::new(inner, shown, request_id),
            t: ChatToResponsesStream::new(&req.0, &response_id(request_id), unix_now()),
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

    /// The upstream body ended: what the chat leg makes of it, then the Response's end (a
    /// `response.failed` when the answer never finished).
    pub(crate) fn eof(&mut self, buf: &mut BytesMut) -> Seen {
        let (t, events) = (&mut self.t, &mut self.events);
        self.leg.eof(|data| chat_data(t, events, data));
        if !self.t.is_done() {
            self.t.finish(&mut self.events);
        }
        self.emit(buf)
    }

    /// The gateway cut the stream after its first byte: `response.failed`.
    pub(crate) fn cut(&mut self, message: &str, buf: &mut BytesMut) {
        self.t.fail("server_error", message, &mut self.events);
        self.emit(buf);
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
                    self.leg.shown().clone_into(&mut response.model);
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
fn chat_data(t: &mut ChatToResponsesStream, events: &mut Vec<ResponsesStreamEvent>, data: &str) {
    if let Err(e) = t.push_data(data, events) {
        tracing::warn!(error = %e, "a chat stream event could not be read");
        t.fail(
            "server_error",
            "The upstream provider sent an unreadable stream event.",
            events,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use tollgate_formats::responses::ResponsesRequest;
    use tollgate_formats::sse::SseDecoder;

    use super::*;
    use crate::codec::Codec;

    fn req() -> ResponsesReq {
        let r: ResponsesRequest = serde_json::from_value(json!({
            "model": "public", "input": "hi", "instructions": "be brief", "stream": true
        }))
        .unwrap();
        ResponsesReq(Arc::new(r))
    }

    /// (event name, data) of every SSE event in `bytes`.
    fn events(bytes: &[u8]) -> Vec<(String, Value)> {
        let mut d = SseDecoder::new();
        d.push(bytes);
        std::iter::from_fn(|| d.next_event())
            .map(|e| {
                (
                    e.event.unwrap_or_default(),
                    serde_json::from_str(&e.data).unwrap(),
                )
            })
            .collect()
    }

    fn sse(data: &str) -> SseEvent {
        let mut d = SseDecoder::new();
        d.push(format!("data: {data}\n\n").as_bytes());
        d.next_event().unwrap()
    }

    const ID: &str = "0190a0b1-c2d3-7e4f-8a9b-0c1d2e3f4a5b";

    #[test]
    fn the_response_id_is_the_request_id_without_dashes() {
        assert_eq!(response_id(ID), "resp_0190a0b1c2d37e4f8a9b0c1d2e3f4a5b");
    }

    #[test]
    fn a_whole_chat_answer_becomes_a_response_with_its_usage() {
        let body = br#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":"hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":2,"total_tokens":14,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        let (out, usage, _) = translate_body(&Mode::OpenAi, &req(), body, "public", ID).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], response_id(ID));
        assert_eq!(v["object"], "response");
        assert_eq!(v["status"], "completed");
        assert_eq!(v["model"], "public");
        assert_eq!(v["instructions"], "be brief");
        assert_eq!(v["output"][0]["content"][0]["text"], "hello there");
        assert_eq!(v["usage"]["input_tokens"], 12);
        assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 4);
        let u = usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_input_tokens),
            (12, 2, 4)
        );
    }

    #[test]
    fn a_whole_anthropic_answer_goes_through_the_chat_leg_first() {
        let inner = Mode::OpenAiFromAnthropic {
            json_tool: None,
            include_usage: false,
        };
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[{"type":"text","text":"bonjour"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","stop_sequence":null,"usage":{"input_tokens":20,"output_tokens":9}}"#;
        let (out, usage, _) = translate_body(&inner, &req(), body, "public", ID).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "public");
        assert_eq!(v["output"][0]["type"], "message");
        assert_eq!(v["output"][0]["content"][0]["text"], "bonjour");
        assert_eq!(v["output"][1]["type"], "function_call");
        assert_eq!(v["output"][1]["call_id"], "toolu_1");
        assert_eq!(v["output"][1]["name"], "get_weather");
        assert_eq!(v["usage"]["output_tokens"], 9);
        assert_eq!(usage.unwrap().input_tokens, 20);
    }

    fn chunk(delta: Value, finish: Option<&str>) -> String {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    }

    #[test]
    fn a_chat_stream_becomes_the_documented_responses_sequence_with_exact_usage() {
        let mut c = Codec::new(
            &Mode::ResponsesFromChat {
                inner: Box::new(Mode::OpenAi),
                req: req(),
            },
            "public",
            ID,
        );
        let usage = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":3,"total_tokens":33,"completion_tokens_details":{"reasoning_tokens":1}}}"#;
        let mut buf = BytesMut::new();
        let mut seen = Seen::default();
        for data in [
            chunk(json!({"role": "assistant", "content": ""}), None),
            chunk(json!({"content": "Hel"}), None),
            chunk(json!({"content": "lo"}), None),
            chunk(json!({}), Some("stop")),
            usage.to_owned(),
        ] {
            seen.merge(c.event(&sse(&data), "public", &mut buf));
        }
        assert!(seen.output && seen.done && !seen.error);
        let evs = events(&buf);
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, (name, v)) in evs.iter().enumerate() {
            assert_eq!(v["type"], name.as_str());
            assert_eq!(v["sequence_number"], i);
        }
        let done = &evs.last().unwrap().1["response"];
        assert_eq!(done["model"], "public");
        assert_eq!(done["id"], response_id(ID));
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello");
        assert_eq!(
            done["usage"]["output_tokens_details"]["reasoning_tokens"],
            1
        );
        let u = c.usage().unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.reasoning_tokens),
            (30, 3, 1)
        );
        assert_eq!(c.meter().tokens(), 2);
    }

    #[test]
    fn an_anthropic_stream_is_read_through_its_chat_codec() {
        let inner = Mode::OpenAiFromAnthropic {
            json_tool: None,
            include_usage: true,
        };
        let mut c = Codec::new(
            &Mode::ResponsesFromChat {
                inner: Box::new(inner),
                req: req(),
            },
            "public",
            ID,
        );
        let raw = [
            r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-up","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Salut"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}"#,
            r#"{"type":"message_stop"}"#,
        ];
        let mut buf = BytesMut::new();
        let mut seen = Seen::default();
        for data in raw {
            seen.merge(c.event(&sse(data), "public", &mut buf));
        }
        assert!(seen.output && seen.done && !seen.error);
        let evs = events(&buf);
        let (name, last) = evs.last().unwrap();
        assert_eq!(name, "response.completed");
        assert_eq!(last["response"]["output"][0]["content"][0]["text"], "Salut");
        assert_eq!(last["response"]["usage"]["input_tokens"], 25);
        assert_eq!(last["response"]["usage"]["output_tokens"], 6);
        let u = c.usage().unwrap();
        assert_eq!((u.input_tokens, u.output_tokens), (25, 6));
    }

    #[test]
    fn a_stream_cut_after_output_ends_with_response_failed_never_silence() {
        let mode = Mode::ResponsesFromChat {
            inner: Box::new(Mode::OpenAi),
            req: req(),
        };
        let mut c = Codec::new(&mode, "public", ID);
        let mut buf = BytesMut::new();
        c.event(
            &sse(&chunk(json!({"content": "Hel"}), None)),
            "public",
            &mut buf,
        );
        let cut = c.cut("The upstream provider stopped sending.").unwrap();
        let evs = events(&cut);
        assert_eq!(evs.len(), 1);
        let (name, v) = &evs[0];
        assert_eq!(name, "response.failed");
        assert_eq!(v["response"]["status"], "failed");
        assert_eq!(v["response"]["error"]["code"], "server_error");
        assert_eq!(v["response"]["output"][0]["status"], "incomplete");
        let before = events(&buf);
        assert_eq!(v["sequence_number"], before.len());

        // A provider's error event mid-stream is the provider's failure, in the same shape.
        let mut c = Codec::new(&mode, "public", ID);
        let mut buf = BytesMut::new();
        c.event(
            &sse(&chunk(json!({"content": "Hel"}), None)),
            "public",
            &mut buf,
        );
        let seen = c.event(
            &sse(r#"{"error":{"message":"overloaded","type":"server_error"}}"#),
            "public",
            &mut buf,
        );
        assert!(seen.error);
        let (name, v) = events(&buf).pop().unwrap();
        assert_eq!(name, "response.failed");
        assert_eq!(v["response"]["error"]["message"], "overloaded");

        // The body ending before a finish reason is a failure too.
        let mut c = Codec::new(&mode, "public", ID);
        let mut buf = BytesMut::new();
        c.event(
            &sse(&chunk(json!({"content": "Hel"}), None)),
            "public",
            &mut buf,
        );
        let seen = c.eof(&mut buf);
        assert!(seen.error && !seen.done);
        assert_eq!(events(&buf).pop().unwrap().0, "response.failed");
    }
}
