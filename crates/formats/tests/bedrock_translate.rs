//! Golden fixtures (`tests/fixtures/bedrock/*.json`, built from AWS's documented Converse and
//! ConverseStream examples and OpenAI's): each input is translated and compared with its
//! `expected` output and the fields the translation reported as dropped. Stream fixtures are
//! encoded as a real event-stream body and fed to the decoder split at arbitrary points.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{fields, fixtures, openai_events};
use proptest::prelude::*;
use serde_json::{Value, json};
use tollgate_domain::Usage;
use tollgate_formats::bedrock::{
    ConverseRequest, ConverseResponse, ConverseToOpenAiStream, EventStreamDecoder,
    converse_to_openai_request, converse_to_openai_response, encode_frame,
    openai_to_converse_request, openai_to_converse_response,
};
use tollgate_formats::translate::{ChatCompletion, ChatRequest};

fn body(fx: &Value) -> Vec<u8> {
    fx["frames"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            encode_frame(
                f[0].as_str().unwrap(),
                f[1].as_str().unwrap(),
                f[2].to_string().as_bytes(),
            )
        })
        .collect()
}

/// Decodes `chunks` of a body and translates every frame; the events as the OpenAI client reads
/// them (chunk JSON, `"[DONE]"`, or the error object) and the usage.
fn run_stream(fx: &Value, chunks: &[&[u8]]) -> (Vec<Value>, Option<Usage>) {
    let mut decoder = EventStreamDecoder::new();
    let mut s = ConverseToOpenAiStream::new(
        "chatcmpl-fixture".to_owned(),
        "bedrock-model".to_owned(),
        1_700_000_000,
        fx["include_usage"].as_bool().unwrap(),
        fx["json_tool"].as_str().map(str::to_owned),
    );
    let mut events = Vec::new();
    for c in chunks {
        decoder.push(c);
        while let Some(frame) = decoder.next_frame().unwrap() {
            s.push_frame(&frame, &mut events).unwrap();
        }
    }
    s.finish(&mut events);
    (openai_events(&events), s.usage())
}

#[test]
fn bedrock_golden_fixtures() {
    for (name, fx) in fixtures("bedrock", 9) {
        let input = fx["input"].to_string();
        match fx["kind"].as_str().unwrap() {
            "request_o2c" => {
                let req: ChatRequest = serde_json::from_str(&input).unwrap();
                let t = openai_to_converse_request(req).unwrap();
                assert_eq!(
                    serde_json::to_value(&t.request).unwrap(),
                    fx["expected"],
                    "{name}"
                );
                assert_eq!(fields(&t.warnings), fx["warnings"], "{name}");
                assert_eq!(json!(t.json_tool), fx["json_tool"], "{name}");
            }
            "request_c2o" => {
                let req: ConverseRequest = serde_json::from_str(&input).unwrap();
                let t = converse_to_openai_request(req, fx["model"].as_str().unwrap()).unwrap();
                assert_eq!(
                    serde_json::to_value(&t.value).unwrap(),
                    fx["expected"],
                    "{name}"
                );
                assert_eq!(fields(&t.warnings), fx["warnings"], "{name}");
            }
            "response_c2o" => {
                let resp: ConverseResponse = serde_json::from_str(&input).unwrap();
                let t = converse_to_openai_response(
                    resp,
                    fx["model"].as_str().unwrap(),
                    "chatcmpl-fixture",
                    1_700_000_000,
                    fx["json_tool"].as_str(),
                );
                assert_eq!(
                    serde_json::to_value(&t.value).unwrap(),
                    fx["expected"],
                    "{name}"
                );
                assert_eq!(fields(&t.warnings), fx["warnings"], "{name}");
            }
            "response_o2c" => {
                let resp: ChatCompletion = serde_json::from_str(&input).unwrap();
                let t = openai_to_converse_response(resp).unwrap();
                assert_eq!(
                    serde_json::to_value(&t.value).unwrap(),
                    fx["expected"],
                    "{name}"
                );
                assert_eq!(fields(&t.warnings), fx["warnings"], "{name}");
            }
            "stream_c2o" => {
                let body = body(&fx);
                let (events, usage) = run_stream(&fx, &[&body]);
                assert_eq!(json!(events), fx["expected"], "{name}");
                assert_eq!(json!(usage), fx["usage"], "{name}");
                // Byte by byte gives the same events.
                let bytes: Vec<&[u8]> = body.chunks(1).collect();
                assert_eq!(run_stream(&fx, &bytes).0, events, "{name} byte by byte");
            }
            other => panic!("{name}: unknown kind {other}"),
        }
    }
}

#[test]
fn bedrock_cut_event_stream_body_is_an_error_not_a_short_answer() {
    let fx = fixtures("bedrock", 9)
        .into_iter()
        .find(|(n, _)| n == "stream_c2o_text")
        .unwrap()
        .1;
    let body = body(&fx);
    // Cut inside the messageStop frame: the client must see an error, not [DONE].
    let frames = fx["frames"].as_array().unwrap();
    let tail: usize = frames[4..]
        .iter()
        .map(|f| encode_frame("event", f[1].as_str().unwrap(), f[2].to_string().as_bytes()).len())
        .sum();
    let cut = body.len() - tail + 5;
    let (events, usage) = run_stream(&fx, &[&body[..cut]]);
    let last = events.last().unwrap();
    assert_eq!(last["error"]["code"], "upstream_error", "{events:?}");
    assert!(!events.contains(&json!("[DONE]")));
    assert!(usage.is_none());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn bedrock_recorded_streams_translate_the_same_under_any_split(
        which in 0usize..3,
        cuts in proptest::collection::vec(any::<usize>(), 0..10),
    ) {
        let streams: Vec<Value> = fixtures("bedrock", 9)
            .into_iter()
            .filter(|(n, _)| n.starts_with("stream_"))
            .map(|(_, v)| v)
            .collect();
        let fx = &streams[which % streams.len()];
        let body = body(fx);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (body.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut at = 0;
        for c in cuts {
            chunks.push(&body[at..c]);
            at = c;
        }
        chunks.push(&body[at..]);
        let (events, _) = run_stream(fx, &chunks);
        prop_assert_eq!(json!(events), fx["expected"].clone());
    }
}
