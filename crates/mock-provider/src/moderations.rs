//! `POST /v1/moderations`: `input` as a string, strings, or multimodal parts; one result per
//! input with `flagged`, `categories`, `category_scores` and (omni models)
//! `category_applied_input_types`, as OpenAI answers.
//!
//! Deterministic: a category is flagged when the input holds one of its trigger words
//! ([`TRIGGERS`]), scored 0.9 then and 0.0001 otherwise.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::ApiError;

/// OpenAI's moderation categories.
const CATEGORIES: [&str; 13] = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
];

/// Words that flag a category (lower case).
const TRIGGERS: [(&str, &str); 4] = [
    ("kill", "violence"),
    ("hate", "hate"),
    ("stupid", "harassment"),
    ("steal", "illicit"),
];

#[derive(Deserialize)]
struct Request {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    input: Option<Value>,
}

/// The texts of `input`, one per result; `None` when it is no valid input.
fn texts(input: &Value) -> Option<Vec<String>> {
    match input {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if !items.is_empty() => {
            // Multimodal parts are one input together; a list of strings is one input each.
            if items.iter().all(Value::is_string) {
                return Some(
                    items
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect(),
                );
            }
            let text = items
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            Some(vec![text])
        }
        _ => None,
    }
}

fn result(text: &str) -> Value {
    let lower = text.to_lowercase();
    let hit = |c: &str| {
        TRIGGERS
            .iter()
            .any(|(w, cat)| *cat == c && lower.contains(w))
    };
    let mut categories = Map::new();
    let mut scores = Map::new();
    let mut applied = Map::new();
    for c in CATEGORIES {
        categories.insert(c.into(), json!(hit(c)));
        scores.insert(c.into(), json!(if hit(c) { 0.9 } else { 0.0001 }));
        applied.insert(c.into(), json!(["text"]));
    }
    json!({
        "flagged": CATEGORIES.iter().any(|c| hit(c)),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    })
}

pub(crate) fn moderate(body: &[u8], id: &str) -> Result<Value, ApiError> {
    let r: Request = serde_json::from_slice(body).map_err(|e| ApiError::from_json(&e))?;
    let texts = r.input.as_ref().and_then(texts).ok_or_else(|| {
        ApiError::invalid_request(
            "Invalid 'input': expected a string, an array of strings or an array of input parts.",
            Some("input"),
            Some("invalid_value"),
        )
    })?;
    Ok(json!({
        "id": format!("modr-mock-{id}"),
        "model": r.model.unwrap_or_else(|| "omni-moderation-latest".into()),
        "results": texts.iter().map(|t| result(t)).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_words_flag_their_category() {
        let v = moderate(br#"{"model":"m","input":["I will kill it","hello"]}"#, "1").unwrap();
        assert_eq!(v["model"], "m");
        assert_eq!(v["results"][0]["flagged"], true);
        assert_eq!(v["results"][0]["categories"]["violence"], true);
        assert_eq!(v["results"][0]["category_scores"]["violence"], 0.9);
        assert_eq!(v["results"][1]["flagged"], false);
        assert_eq!(v["results"][1]["categories"].as_object().unwrap().len(), 13);
        let parts = br#"{"input":[{"type":"text","text":"hate"},{"type":"image_url","image_url":{"url":"x"}}]}"#;
        let v = moderate(parts, "2").unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 1);
        assert_eq!(v["model"], "omni-moderation-latest");
        assert!(moderate(br#"{"input":[]}"#, "3").is_err());
    }
}
