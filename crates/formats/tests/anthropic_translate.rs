//! Golden fixtures (`tests/fixtures/anthropic/*.json`, built from Anthropic's and OpenAI's
//! documented examples): each input is translated and compared with its `expected` output and
//! the list of fields the translation reported as dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fields, fixtures, openai_events};
use serde_json::{Value, json};
use tollgate_domain::Usage;
use tollgate_formats::anthropic::{MessagesRequest, MessagesResponse, StreamEvent};
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::{
    AnthropicToOpenAiStream, ChatCompletion, ChatRequest, OpenAiToAnthropicStream,
    anthropic_to_openai_request, anthropic_to_openai_response, openai_to_anthropic_request,
    openai_to_anthropic_response,
};

/// Anthropic stream events as the client reads them: `{"event": name, "data": json}`.
fn anthropic_events(events: &[StreamEvent]) -> Vec<Value> {
    let mut dec = SseDecoder::new();
    for e in events {
        dec.push(&e.encode());
    }
    let mut out = Vec::new();
    while let Some(ev) = dec.next_event() {
        let data: Value = serde_json::from_str(&ev.data).unwrap();
        assert_eq!(Some(data["type"].as_str().unwrap()), ev.event.as_deref());
        out.push(json!({"event": ev.event, "data": data}));
    }
    out
}

/// Translates a fixture's input; returns (output, warnings, extra facts to compare).
fn run(f: &Value) -> (Value, Value, Value) {
    let input = f["input"].clone();
    match f["kind"].as_str().unwrap() {
        "request_o2a" => {
            let req: ChatRequest = serde_json::from_value(input).unwrap();
            let t = openai_to_anthropic_request(req, f["model"].as_str().unwrap()).unwrap();
            // The output is a valid Anthropic request by our own model of it.
            let v = serde_json::to_value(&t.request).unwrap();
            let back: MessagesRequest = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(back, t.request);
            let facts = json!({"json_tool": t.json_tool, "include_usage": t.include_usage});
            (v, fields(&t.warnings), facts)
        }
        "request_a2o" => {
            let req: MessagesRequest = serde_json::from_value(input).unwrap();
            let t = anthropic_to_openai_request(req, f["model"].as_str().unwrap()).unwrap();
            (
                serde_json::to_value(&t.request).unwrap(),
                fields(&t.warnings),
                Value::Null,
            )
        }
        "response_a2o" => {
            let resp: MessagesResponse = serde_json::from_value(input).unwrap();
            let t = anthropic_to_openai_response(
                resp,
                f["created"].as_u64().unwrap(),
                f["json_tool"].as_str(),
            );
            (
                serde_json::to_value(&t.value).unwrap(),
                fields(&t.warnings),
                Value::Null,
            )
        }
        "response_o2a" => {
            let resp: ChatCompletion = serde_json::from_value(input).unwrap();
            let t = openai_to_anthropic_response(resp).unwrap();
            (
                serde_json::to_value(&t.value).unwrap(),
                fields(&t.warnings),
                Value::Null,
            )
        }
        "stream_a2o" => {
            let mut s = AnthropicToOpenAiStream::new(
                f["created"].as_u64().unwrap(),
                f["include_usage"].as_bool().unwrap(),
                f["json_tool"].as_str().map(str::to_owned),
            );
            let mut out = Vec::new();
            for ev in input.as_array().unwrap() {
                s.push_data(&ev.to_string(), &mut out).unwrap();
            }
            s.finish(&mut out);
            let usage: Usage = serde_json::from_value(f["usage"].clone()).unwrap();
            assert_eq!(s.usage(), Some(usage), "usage in Tollgate's convention");
            (
                json!(openai_events(&out)),
                fields(s.warnings()),
                Value::Null,
            )
        }
        "stream_o2a" => {
            let mut s = OpenAiToAnthropicStream::new();
            let mut out = Vec::new();
            for ev in input.as_array().unwrap() {
                let data = ev.as_str().map_or_else(|| ev.to_string(), str::to_owned);
                s.push_data(&data, &mut out).unwrap();
            }
            s.finish(&mut out);
            (
                json!(anthropic_events(&out)),
                fields(s.warnings()),
                Value::Null,
            )
        }
        other => panic!("unknown fixture kind {other}"),
    }
}

#[test]
fn every_fixture_translates_to_its_expected_output() {
    let mut missing = Vec::new();
    for (name, f) in fixtures("anthropic", 14) {
        let (got, warnings, facts) = run(&f);
        assert_eq!(warnings, f["warnings"], "{name}: reported warnings");
        if let Some(expected) = f.get("expected") {
            assert_eq!(
                got,
                *expected,
                "{name}: got\n{}",
                serde_json::to_string_pretty(&got).unwrap()
            );
        } else {
            missing.push(name.clone());
            println!("@@{name}@@{got}");
        }
        for key in ["json_tool", "include_usage"] {
            if let Some(want) = f.get(key).filter(|_| f["kind"] == "request_o2a") {
                assert_eq!(facts[key], *want, "{name}: {key}");
            }
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures without expected output: {missing:?}"
    );
}

/// The stream fixtures' inputs as the bytes a provider would send.
fn stream_bytes(f: &Value) -> Vec<u8> {
    let mut bytes = Vec::new();
    for ev in f["input"].as_array().unwrap() {
        match (f["kind"].as_str().unwrap(), ev.as_str()) {
            ("stream_a2o", _) => {
                let ty = ev["type"].as_str().unwrap();
                bytes.extend_from_slice(format!("event: {ty}\r\ndata: {ev}\r\n\r\n").as_bytes());
            }
            (_, Some(done)) => bytes.extend_from_slice(format!("data: {done}\n\n").as_bytes()),
            _ => bytes.extend_from_slice(format!("data: {ev}\n\n").as_bytes()),
        }
    }
    bytes
}

/// Feeds `bytes` cut at `cuts` through the SSE decoder and the fixture's translator.
fn translate_split(f: &Value, bytes: &[u8], cuts: &[usize]) -> Value {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    points.sort_unstable();
    points.push(bytes.len());
    let mut dec = SseDecoder::new();
    let mut at = 0;
    if f["kind"] == "stream_a2o" {
        let mut s = AnthropicToOpenAiStream::new(
            f["created"].as_u64().unwrap(),
            f["include_usage"].as_bool().unwrap(),
            None,
        );
        let mut out = Vec::new();
        for p in points {
            dec.push(&bytes[at..p]);
            at = p;
            while let Some(ev) = dec.next_event() {
                s.push_data(&ev.data, &mut out).unwrap();
            }
        }
        s.finish(&mut out);
        json!(openai_events(&out))
    } else {
        let mut s = OpenAiToAnthropicStream::new();
        let mut out = Vec::new();
        for p in points {
            dec.push(&bytes[at..p]);
            at = p;
            while let Some(ev) = dec.next_event() {
                s.push_data(&ev.data, &mut out).unwrap();
            }
        }
        s.finish(&mut out);
        json!(anthropic_events(&out))
    }
}

proptest::proptest! {
    #[test]
    fn stream_translations_do_not_depend_on_how_the_bytes_are_cut(
        cuts in proptest::collection::vec(0usize..100_000, 0..40),
    ) {
        for (name, f) in fixtures("anthropic", 14) {
            if !f["kind"].as_str().unwrap().starts_with("stream_") {
                continue;
            }
            let bytes = stream_bytes(&f);
            let got = translate_split(&f, &bytes, &cuts);
            proptest::prop_assert_eq!(&got, &f["expected"], "{}", name);
        }
    }
}

#[test]
fn usage_conversion_is_exact_including_cache_tokens() {
    // Anthropic: 21 fresh + 3000 read + 1000 written input tokens.
    let (_, f) = fixtures("anthropic", 14)
        .into_iter()
        .find(|(n, _)| n == "response_tool_use")
        .unwrap();
    let resp: MessagesResponse = serde_json::from_value(f["input"].clone()).unwrap();
    let body = serde_json::to_vec(&resp).unwrap();
    let from_bytes = tollgate_formats::anthropic::usage_from_response(&body)
        .unwrap()
        .unwrap();
    let want = Usage {
        units: None,
        input_tokens: 4_021,
        output_tokens: 93,
        cached_input_tokens: 3_000,
        cache_write_tokens: 1_000,
        reasoning_tokens: 0,
    };
    assert_eq!(from_bytes, want);
    assert_eq!(resp.usage.to_usage(), want);
    // The OpenAI response the client gets reads back to the same usage through the OpenAI path
    // (less the cache writes, which OpenAI's format cannot express).
    let openai = anthropic_to_openai_response(resp, 0, None).value;
    let info = tollgate_formats::openai::inspect_completion(&serde_json::to_vec(&openai).unwrap())
        .unwrap();
    assert_eq!(
        info.usage,
        Some(Usage {
            cache_write_tokens: 0,
            ..want
        })
    );
    // And an OpenAI usage translated for an Anthropic client converts back exactly.
    let anthropic = openai_to_anthropic_response(openai).unwrap().value;
    assert_eq!(anthropic.usage.input_tokens, 4_021 - 3_000);
    assert_eq!(
        anthropic.usage.to_usage(),
        Usage {
            cache_write_tokens: 0,
            ..want
        }
    );
}
