//! A continued conversation made whole: the stored turn's input items, then its output items,
//! then this request's input, in one `input` array, and `previous_response_id` taken out. As
//! OpenAI documents, the earlier turn's `instructions` are not carried over.
//!
//! This is the one place the edge rewrites a Responses body through `serde_json::Value` (key
//! order and number spellings become the serialiser's), and only for a continuation.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Stored;
use crate::error::ApiError;

fn bad(message: &str) -> ApiError {
    ApiError::bad_request(message, None)
}

/// A request's `input` as items: a string becomes one user message.
fn items(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(s)) => vec![json!({"role": "user", "content": s})],
        Some(Value::Array(a)) => a.clone(),
        _ => Vec::new(),
    }
}

/// Every input item of this request's conversation (for storing it with its answer).
pub(crate) fn conversation(body: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(body).unwrap_or_default();
    Value::Array(items(v.get("input")))
}

/// `body` continuing `stored`.
pub(crate) fn continue_from(body: &[u8], stored: &Stored) -> Result<Bytes, ApiError> {
    let mut v: Value =
        serde_json::from_slice(body).map_err(|_| bad("the body is not valid JSON"))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(bad("the body must be a JSON object"));
    };
    let mut input = items(Some(&stored.input_items));
    input.extend(items(stored.response.get("output")));
    input.extend(items(obj.get("input")));
    obj.insert("input".to_owned(), Value::Array(input));
    obj.remove("previous_response_id");
    serde_json::to_vec(&v)
        .map(Bytes::from)
        .map_err(|_| bad("the body could not be rebuilt"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_turn_comes_first_and_the_id_goes() {
        let stored = Stored {
            input_items: json!([{"role": "user", "content": "first"}]),
            response: json!({"output": [{"type": "message", "role": "assistant",
                "content": [{"type": "output_text", "text": "answer"}]}]}),
        };
        let body =
            br#"{"model":"m","previous_response_id":"resp_1","input":"second","instructions":"x"}"#;
        let out: Value = serde_json::from_slice(&continue_from(body, &stored).unwrap()).unwrap();
        assert!(out.get("previous_response_id").is_none());
        assert_eq!(out["instructions"], "x");
        let input = out["input"].as_array().unwrap();
        assert_eq!(input.len(), 3);
        assert_eq!(input[0]["content"], "first");
        assert_eq!(input[1]["type"], "message");
        assert_eq!(input[2], json!({"role": "user", "content": "second"}));
        assert_eq!(
            conversation(&serde_json::to_vec(&out).unwrap()),
            json!(input)
        );
    }
}
