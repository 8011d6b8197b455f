//! What the golden-fixture runners share: loading one dialect's fixtures, listing the fields a
//! translation reported as not carried over, and reading OpenAI stream events as a client does.

use std::path::PathBuf;

use serde_json::{Value, json};
use tollgate_formats::sse::SseDecoder;
use tollgate_formats::translate::{OpenAiStreamEvent, Warning};

/// Every `tests/fixtures/<dialect>/*.json` as (file stem, JSON), sorted by name so failures
/// read the same on every machine. Fewer than `at_least` files means some went missing.
pub fn fixtures(dialect: &str, at_least: usize) -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dialect);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let v = serde_json::from_slice(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            (name, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        out.len() >= at_least,
        "fixtures missing from {}",
        dir.display()
    );
    out
}

/// The warned-about fields, as the fixtures' `dropped` lists spell them.
pub fn fields(w: &[Warning]) -> Value {
    json!(w.iter().map(|w| w.field.to_string()).collect::<Vec<_>>())
}

/// OpenAI stream events as the client reads them off the wire: chunk JSON, `"[DONE]"`, or the
/// error object.
pub fn openai_events(events: &[OpenAiStreamEvent]) -> Vec<Value> {
    let mut dec = SseDecoder::new();
    for e in events {
        dec.push(&e.encode());
    }
    let mut out = Vec::new();
    while let Some(ev) = dec.next_event() {
        out.push(serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data)));
    }
    out
}
