//! The fuzz checks, one function per target. Each takes arbitrary bytes, runs them through the
//! public `tollgate-formats` functions that read untrusted input, and asserts the properties
//! those functions promise: no panic on any input (the crate's "pure and total" rule), the
//! decoders give the same result however a body is cut into chunks, what we encode decodes back
//! to what went in, and what we send to a client or provider is well-formed.
//!
//! Kept free of `libfuzzer-sys` so `crates/formats/tests/fuzz_corpus.rs` can compile this file on
//! stable and replay `fuzz/corpus/*` in ordinary CI.

use serde_json::Value;
use tollgate_formats::anthropic::{self, MessagesRequest, MessagesResponse, StreamUsage};
use tollgate_formats::bedrock::{
    self, ConverseRequest, ConverseResponse, ConverseToOpenAiStream, EventStreamDecoder, Frame,
};
use tollgate_formats::gemini::{
    self, BatchEmbedContentsResponse, GeminiToOpenAiStream, GenerateContentRequest,
    GenerateContentResponse,
};
use tollgate_formats::sse::{self, SseDecoder, SseEvent};
use tollgate_formats::translate::{
    self, AnthropicToOpenAiStream, ChatCompletion, ChatRequest, JSON_OBJECT_TOOL,
    OpenAiStreamEvent, OpenAiToAnthropicStream,
};
use tollgate_formats::{depth, openai};

/// One target's check.
pub type Check = fn(&[u8]);

/// Every target by the name of its `fuzz_targets/*.rs` and `corpus/*` directory.
pub const TARGETS: &[(&str, Check)] = &[
    ("sse_decoder", sse_decoder),
    ("bedrock_eventstream", bedrock_eventstream),
    ("request_peek", request_peek),
    ("translate_request", translate_request),
    ("translate_response", translate_response),
    ("translate_stream", translate_stream),
];

/// Chunk sizes for cutting a body the way a network might: derived from the input itself so a
/// failing input replays the same cuts.
fn chunks(data: &[u8]) -> Vec<&[u8]> {
    let mut seed = data.first().copied().unwrap_or(0) as usize;
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        seed = (seed * 31 + 7) % 251;
        let n = (seed % 17 + 1).min(rest.len());
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

fn sse_events_whole(data: &[u8]) -> (Vec<SseEvent>, bool) {
    let mut dec = SseDecoder::new();
    dec.push(data);
    let mut out = Vec::new();
    while let Some(ev) = dec.next_event() {
        out.push(ev);
    }
    (out, dec.has_partial_event())
}

/// SSE decoder: same events for any chunking; `encode_data` round-trips.
pub fn sse_decoder(data: &[u8]) {
    let (whole, partial) = sse_events_whole(data);
    let mut dec = SseDecoder::new();
    let mut cut = Vec::new();
    for c in chunks(data) {
        dec.push(c);
        while let Some(ev) = dec.next_event() {
            cut.push(ev);
        }
        // Invalid UTF-8 in `data:` lines grows up to 3x (each byte becomes U+FFFD).
        assert!(dec.buffered() <= data.len() * 3 + 8);
    }
    assert_eq!(whole, cut, "events depend on where the stream was cut");
    assert_eq!(partial, dec.has_partial_event());

    if let Ok(s) = std::str::from_utf8(data) {
        let (events, partial) = sse_events_whole(&sse::encode_data(data));
        let expected = s.replace("\r\n", "\n").replace('\r', "\n");
        assert_eq!(events.len(), 1, "encode_data must give one event");
        assert_eq!(events[0].data, expected, "encode_data does not round-trip");
        assert!(!partial);
    }
}

fn frames(dec: &mut EventStreamDecoder, out: &mut Vec<Frame>) -> bool {
    loop {
        match dec.next_frame() {
            Ok(Some(f)) => out.push(f),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
}

/// Bedrock ConverseStream body: frames independent of chunking, every frame through the
/// OpenAI stream translator, and `encode_frame` round-trips.
pub fn bedrock_eventstream(data: &[u8]) {
    let mut whole = Vec::new();
    let mut dec = EventStreamDecoder::new();
    dec.push(data);
    let whole_failed = frames(&mut dec, &mut whole);

    let mut cut = Vec::new();
    let mut dec = EventStreamDecoder::new();
    let mut cut_failed = false;
    for c in chunks(data) {
        dec.push(c);
        if frames(&mut dec, &mut cut) {
            cut_failed = true;
            break;
        }
    }
    assert_eq!(whole, cut, "frames depend on where the body was cut");
    assert_eq!(whole_failed, cut_failed);

    for json_tool in [None, Some(JSON_OBJECT_TOOL.to_owned())] {
        let mut t = ConverseToOpenAiStream::new("id".into(), "m".into(), 0, true, json_tool);
        let mut out = Vec::new();
        for f in &whole {
            if t.push_frame(f, &mut out).is_err() {
                break;
            }
        }
        t.finish(&mut out);
        let _ = (t.usage(), t.output_bytes(), t.warnings());
        check_openai_events(&out);
    }

    // Round trip: a frame built from the input decodes back to itself.
    let message_type = ["event", "exception", "error"][data.len() % 3];
    let split = data
        .len()
        .min(usize::from(data.first().copied().unwrap_or(0)) % 40);
    let event_type = String::from_utf8_lossy(&data[..split]).into_owned();
    let payload = &data[split..];
    let encoded = bedrock::encode_frame(message_type, &event_type, payload);
    if !encoded.is_empty() {
        let mut dec = EventStreamDecoder::new();
        dec.push(&encoded);
        let got = dec.next_frame();
        assert!(
            matches!(&got, Ok(Some(f)) if f.message_type == message_type
                && f.event_type == event_type && f.payload.as_ref() == payload),
            "encode_frame does not round-trip: {got:?}"
        );
    }
}

/// The cheap peeks and splicing rewrites of client bodies and provider answers.
pub fn request_peek(data: &[u8]) {
    let _ = openai::peek_chat(data);
    let _ = anthropic::peek_messages(data);
    let _ = openai::peek_embeddings(data);
    let _ = openai::peek_routing_prefs(data);
    let _ = openai::strip_router_fields(data);
    let _ = depth::exceeds_depth(data, 32);
    let _ = openai::inspect_completion(data);
    let _ = anthropic::usage_from_response(data);
    let _ = gemini::wants_base64(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = openai::inspect_chunk(s);
        let _ = StreamUsage::new().observe(s);
    }

    // The rewritten body must still be JSON, with our model, whenever the client's was.
    let parsed = serde_json::from_slice::<Value>(data).ok();
    const UPSTREAM: &str = "up\"stream/\u{e9}";
    if let Ok(out) = openai::rewrite_chat_request(data, UPSTREAM, true)
        && parsed.is_some()
    {
        let v: Value = serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("rewrite_chat_request made invalid JSON ({e}): {out:?}"));
        assert_eq!(v.get("model").and_then(Value::as_str), Some(UPSTREAM));
    }
    if let Ok(out) = openai::rewrite_chat_response_model(data, "public")
        && let Some(before) = &parsed
    {
        let v: Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
            panic!("rewrite_chat_response_model made invalid JSON ({e}): {out:?}")
        });
        if before.get("model").is_some_and(Value::is_string) {
            assert_eq!(v.get("model").and_then(Value::as_str), Some("public"));
        }
    }
}

fn to_json<T: serde::Serialize>(v: &T) {
    assert!(
        serde_json::to_vec(v).is_ok(),
        "a translated body does not serialise"
    );
}

/// Request translations in every direction that exists, and back again.
pub fn translate_request(data: &[u8]) {
    if let Ok(req) = translate::from_json::<ChatRequest>(data) {
        if let Ok(t) = translate::openai_to_anthropic_request(req.clone(), "claude-sonnet-4-5") {
            to_json(&t.request);
            if let Ok(back) = translate::anthropic_to_openai_request(t.request, "gpt-4o") {
                to_json(&back.request);
            }
        }
        if let Ok(t) = gemini::openai_to_gemini_request(req.clone()) {
            to_json(&t.value);
            if let Ok(back) = gemini::gemini_to_openai_request(t.value, "gpt-4o") {
                to_json(&back.value);
            }
        }
        for model in [
            None,
            Some("anthropic.claude-3-5-sonnet"),
            Some("amazon.nova-pro"),
        ] {
            let mut req = req.clone();
            if let Some(m) = model {
                req.model = m.to_owned();
            }
            if let Ok(t) = bedrock::openai_to_converse_request(req) {
                to_json(&t.request);
                if let Ok(back) = bedrock::converse_to_openai_request(t.request, "gpt-4o") {
                    to_json(&back.value);
                }
            }
        }
        let mut req = req;
        let _ = translate::strip_cache_control(&mut req, "fuzz");
    }
    if let Ok(req) = translate::from_json::<MessagesRequest>(data)
        && let Ok(t) = translate::anthropic_to_openai_request(req, "gpt-4o")
    {
        to_json(&t.request);
        if let Ok(back) = translate::openai_to_anthropic_request(t.request, "claude-sonnet-4-5") {
            to_json(&back.request);
        }
    }
    if let Ok(req) = translate::from_json::<GenerateContentRequest>(data)
        && let Ok(t) = gemini::gemini_to_openai_request(req, "gpt-4o")
    {
        to_json(&t.value);
    }
    if let Ok(req) = translate::from_json::<ConverseRequest>(data)
        && let Ok(t) = bedrock::converse_to_openai_request(req, "gpt-4o")
    {
        to_json(&t.value);
    }
    let _ = gemini::openai_to_gemini_embeddings(data, "text-embedding-004");
}

/// Response translations in every direction that exists, and the error-body translations.
pub fn translate_response(data: &[u8]) {
    if let Ok(resp) = translate::from_json::<ChatCompletion>(data) {
        if let Ok(t) = translate::openai_to_anthropic_response(resp.clone()) {
            to_json(&t.value);
            let back = translate::anthropic_to_openai_response(t.value, 0, None);
            to_json(&back.value);
        }
        if let Ok(t) = gemini::openai_to_gemini_response(resp.clone()) {
            to_json(&t.value);
            to_json(&gemini::gemini_to_openai_response(t.value, "m", "id", 0).value);
        }
        if let Ok(t) = bedrock::openai_to_converse_response(resp) {
            to_json(&t.value);
            to_json(&bedrock::converse_to_openai_response(t.value, "m", "id", 0, None).value);
        }
    }
    for json_tool in [None, Some(JSON_OBJECT_TOOL)] {
        if let Ok(resp) = translate::from_json::<MessagesResponse>(data) {
            to_json(&translate::anthropic_to_openai_response(resp, 0, json_tool).value);
        }
        if let Ok(resp) = translate::from_json::<ConverseResponse>(data) {
            let t = bedrock::converse_to_openai_response(resp, "m", "id", 0, json_tool);
            to_json(&t.value);
        }
    }
    if let Ok(resp) = translate::from_json::<GenerateContentResponse>(data) {
        to_json(&gemini::gemini_to_openai_response(resp, "m", "id", 0).value);
    }
    if let Ok(resp) = translate::from_json::<BatchEmbedContentsResponse>(data) {
        let _ = gemini::gemini_to_openai_embeddings_base64(resp, "m", u64::MAX);
    }
    let status = match data.first() {
        Some(b) => 400 + u16::from(*b) % 200,
        None => 500,
    };
    for (s, b) in [
        translate::openai_error_to_anthropic(status, data),
        translate::anthropic_error_to_openai(status, data),
    ] {
        // The provider's error status is kept (529 becomes 503): still an error status.
        assert!(
            (400..=599).contains(&s),
            "error translation gave status {s}"
        );
        assert!(
            serde_json::from_slice::<Value>(&b).is_ok(),
            "error translation gave a body that is not JSON: {b:?}"
        );
    }
    let _ = gemini::error_message(data);
    let _ = bedrock::error_message(data);
}

/// Every event the gateway writes to an OpenAI client is one well-formed SSE event whose data is
/// JSON or `[DONE]`.
fn check_openai_events(events: &[OpenAiStreamEvent]) {
    for e in events {
        let (decoded, partial) = sse_events_whole(&e.encode());
        assert_eq!(decoded.len(), 1, "{e:?} is not one SSE event");
        assert!(!partial);
        let d = &decoded[0].data;
        assert!(
            d == sse::DONE_DATA || serde_json::from_str::<Value>(d).is_ok(),
            "{e:?} encodes to data that is not JSON: {d}"
        );
    }
}

/// Provider streams (the input is an SSE body; its events are fed to every translator).
pub fn translate_stream(data: &[u8]) {
    let (events, _) = sse_events_whole(data);

    for json_tool in [None, Some(JSON_OBJECT_TOOL.to_owned())] {
        let mut t = AnthropicToOpenAiStream::new(0, true, json_tool);
        let mut out = Vec::new();
        for ev in &events {
            if t.push_data(&ev.data, &mut out).is_err() {
                break;
            }
        }
        t.finish(&mut out);
        let _ = (t.usage(), t.output_bytes(), t.warnings());
        check_openai_events(&out);
    }

    let mut t = OpenAiToAnthropicStream::new();
    let mut out = Vec::new();
    for ev in &events {
        if t.push_data(&ev.data, &mut out).is_err() {
            break;
        }
    }
    t.finish(&mut out);
    let _ = (t.usage(), t.warnings());
    for e in &out {
        let (decoded, partial) = sse_events_whole(&e.encode());
        assert_eq!(decoded.len(), 1, "{e:?} is not one SSE event");
        assert!(!partial);
        assert_eq!(decoded[0].event.as_deref(), Some(e.kind()));
        assert!(
            serde_json::from_str::<Value>(&decoded[0].data).is_ok(),
            "{e:?} encodes to data that is not JSON"
        );
    }

    let mut t = GeminiToOpenAiStream::new("id".into(), 0, true);
    let mut out = Vec::new();
    for ev in &events {
        if t.push_data(&ev.data, &mut out).is_err() {
            break;
        }
    }
    t.finish(&mut out);
    let _ = (t.usage(), t.output_bytes(), t.warnings());
    check_openai_events(&out);

    let mut usage = StreamUsage::new();
    let mut meter = openai::OutputMeter::default();
    for ev in &events {
        let _ = usage.observe(&ev.data);
        if let Ok(c) = openai::inspect_chunk(&ev.data) {
            meter.add_chunk(&c);
        }
    }
    let _ = (usage.usage(), usage.output_bytes(), meter.tokens());
}
