//! Answers of providers that serve OpenAI's Responses API themselves, relayed as they are: only
//! the Response's `model` is renamed (in the whole body, or in the lifecycle events of a stream,
//! the only ones that carry the Response), and usage is read from the final Response
//! (`response.completed`, `.incomplete` or `.failed`), so the Usage frame is exact.
//!
//! A stream cut after its first byte still ends the way Responses clients expect: with a
//! `response.failed` event built from the last Response seen, numbered after the last event.

use bytes::{Bytes, BytesMut};
use serde::Deserialize;
use serde_json::{Value, json};
use tollgate_domain::Usage;
use tollgate_formats::FormatError;
use tollgate_formats::anthropic::encode_event;
use tollgate_formats::openai::{self, ChunkInfo, OutputMeter};
use tollgate_formats::sse::{self, SseEvent};

use super::Seen;

/// A Response's `usage` as OpenAI writes it; tolerant of missing or null details.
#[derive(Default, Deserialize)]
struct UsageView {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens_details: Option<InputDetails>,
    #[serde(default)]
    output_tokens_details: Option<OutputDetails>,
}

#[derive(Default, Deserialize)]
struct InputDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Default, Deserialize)]
struct OutputDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

impl UsageView {
    /// `input_tokens` includes the cached ones, as the chat `prompt_tokens` does.
    fn into_usage(self) -> Usage {
        Usage {
            units: None,
            input_tokens: self.input_tokens.unwrap_or(0),
            output_tokens: self.output_tokens.unwrap_or(0),
            cached_input_tokens: self
                .input_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: self
                .output_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// The usage of a Response object (`None`: it has none, e.g. still in progress).
fn response_usage(response: &Value) -> Option<Usage> {
    let u = response.get("usage").filter(|u| u.is_object())?;
    UsageView::deserialize(u).ok().map(UsageView::into_usage)
}

/// A whole Response, `model` renamed, and its usage.
pub(crate) fn translate_body(
    body: &[u8],
    shown: &str,
) -> Result<(Bytes, Option<Usage>), FormatError> {
    #[derive(Deserialize)]
    struct View {
        #[serde(default)]
        usage: Option<UsageView>,
    }
    let view: View = tollgate_formats::translate::from_json(body)?;
    let out = openai::rewrite_chat_response_model(body, shown)?;
    Ok((out, view.usage.map(UsageView::into_usage)))
}

/// What every event of a Responses stream has; deltas carry their text in `delta`.
#[derive(Deserialize)]
struct EventView<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default)]
    sequence_number: Option<u64>,
    #[serde(default, borrow)]
    delta: Option<std::borrow::Cow<'a, str>>,
}

/// Events that carry the whole Response.
fn carries_response(kind: &str) -> bool {
    matches!(
        kind,
        "response.created"
            | "response.in_progress"
            | "response.queued"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
    )
}

/// Per-stream state of a native Responses stream.
#[derive(Default)]
pub(crate) struct NativeResponses {
    usage: Option<Usage>,
    meter: OutputMeter,
    last_seq: Option<u64>,
    /// The last Response seen (renamed), for the `response.failed` of a cut stream.
    response: Option<Value>,
}

impl NativeResponses {
    /// One upstream event, relayed into `buf`.
    pub(crate) fn event(&mut self, ev: &SseEvent, shown: &str, buf: &mut BytesMut) -> Seen {
        let mut seen = Seen::default();
        let Ok(view) = serde_json::from_str::<EventView<'_>>(&ev.data) else {
            // Not an event object (a keep-alive or comment-like payload): passed on.
            buf.extend_from_slice(&sse::encode_data(ev.data.as_bytes()));
            return seen;
        };
        if let Some(n) = view.sequence_number {
            self.last_seq = Some(n);
        }
        let kind = view.kind.as_ref();
        let name = ev.event.as_deref().unwrap_or(kind);
        if let Some(d) = view.delta.as_deref().filter(|d| !d.is_empty()) {
            seen.output = true;
            self.meter.add_chunk(&ChunkInfo {
                output_deltas: 1,
                output_bytes: d.len() as u64,
                ..ChunkInfo::default()
            });
        }
        match kind {
            "response.completed" | "response.incomplete" => seen.done = true,
            "response.failed" => {
                seen.done = true;
                seen.error = true;
            }
            "error" => seen.error = true,
            _ => {}
        }
        if !carries_response(kind) {
            buf.extend_from_slice(&encode_event(name, ev.data.as_bytes()));
            return seen;
        }
        match serde_json::from_str::<Value>(&ev.data) {
            Ok(mut v) => {
                if let Some(r) = v.get_mut("response") {
                    if let Some(m) = r.get_mut("model") {
                        *m = Value::String(shown.to_owned());
                    }
                    if let Some(u) = response_usage(r) {
                        self.usage = Some(u);
                    }
                    self.response = Some(r.clone());
                }
                let json = serde_json::to_vec(&v).unwrap_or_else(|_| ev.data.as_bytes().to_vec());
                buf.extend_from_slice(&encode_event(name, &json));
            }
            Err(_) => buf.extend_from_slice(&encode_event(name, ev.data.as_bytes())),
        }
        seen
    }

    /// The `response.failed` event ending a stream the gateway cut.
    pub(crate) fn cut(&mut self, message: &str, code: &str) -> Bytes {
        let mut response = self
            .response
            .take()
            .unwrap_or_else(|| json!({"object": "response", "output": []}));
        if let Some(r) = response.as_object_mut() {
            r.insert("status".into(), json!("failed"));
            r.insert("error".into(), json!({"code": code, "message": message}));
        }
        let seq = self.last_seq.map_or(0, |n| n + 1);
        let event =
            json!({"type": "response.failed", "sequence_number": seq, "response": response});
        encode_event("response.failed", event.to_string().as_bytes())
    }

    pub(crate) fn usage(&self) -> Option<Usage> {
        self.usage
    }

    pub(crate) fn meter(&self) -> OutputMeter {
        self.meter
    }
}

#[cfg(test)]
mod tests {
    use tollgate_formats::sse::SseDecoder;

    use super::*;

    fn events(raw: &str) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        d.push(raw.as_bytes());
        std::iter::from_fn(|| d.next_event()).collect()
    }

    const STREAM: &str = concat!(
        "event: response.created\n",
        r#"data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-up","output":[],"usage":null}}"#,
        "\n\n",
        "event: response.output_text.delta\n",
        r#"data: {"type":"response.output_text.delta","sequence_number":1,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hello"}"#,
        "\n\n",
        "event: response.completed\n",
        r#"data: {"type":"response.completed","sequence_number":2,"response":{"id":"resp_1","object":"response","status":"completed","model":"gpt-up","output":[],"usage":{"input_tokens":120,"input_tokens_details":{"cached_tokens":100},"output_tokens":31,"output_tokens_details":{"reasoning_tokens":17},"total_tokens":151}}}"#,
        "\n\n",
    );

    #[test]
    fn a_native_stream_is_relayed_with_its_exact_usage_and_the_model_renamed() {
        let mut s = NativeResponses::default();
        let mut buf = BytesMut::new();
        let mut seen = Seen::default();
        for ev in events(STREAM) {
            seen.merge(s.event(&ev, "public", &mut buf));
        }
        assert!(seen.output && seen.done && !seen.error);
        assert_eq!(
            s.usage(),
            Some(Usage {
                units: None,
                input_tokens: 120,
                output_tokens: 31,
                cached_input_tokens: 100,
                cache_write_tokens: 0,
                reasoning_tokens: 17,
            })
        );
        let out = String::from_utf8(buf.to_vec()).unwrap();
        assert!(!out.contains("gpt-up"), "{out}");
        assert_eq!(out.matches(r#""model":"public""#).count(), 2, "{out}");
        // Events without a Response pass byte for byte, named as they came.
        assert!(out.contains(
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,"
        ));
    }

    #[test]
    fn a_cut_native_stream_ends_with_response_failed_numbered_next() {
        let mut s = NativeResponses::default();
        let mut buf = BytesMut::new();
        for ev in events(STREAM).into_iter().take(2) {
            s.event(&ev, "public", &mut buf);
        }
        let cut = s.cut("The upstream provider stopped sending.", "server_error");
        let ev = &events(std::str::from_utf8(&cut).unwrap())[0];
        assert_eq!(ev.event.as_deref(), Some("response.failed"));
        let v: Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(v["sequence_number"], 2);
        assert_eq!(v["response"]["id"], "resp_1");
        assert_eq!(v["response"]["status"], "failed");
        assert_eq!(v["response"]["model"], "public");
        assert_eq!(v["response"]["error"]["code"], "server_error");
    }

    #[test]
    fn a_whole_response_gives_its_usage_and_the_public_model() {
        let body = br#"{"id":"resp_1","object":"response","model":"gpt-up","status":"completed","output":[],"usage":{"input_tokens":9,"output_tokens":4,"input_tokens_details":{"cached_tokens":0},"output_tokens_details":{"reasoning_tokens":2},"total_tokens":13}}"#;
        let (out, usage) = translate_body(body, "public").unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "public");
        let u = usage.unwrap();
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.reasoning_tokens),
            (9, 4, 2)
        );
    }
}
