//! Reading a Gemini `generateContent` request: its prompt tokens, the implicitly cacheable
//! prefix, the output cap, thinking, and which functions the mock will call.
//!
//! Token rules (documented so tests elsewhere can predict them), the same arithmetic as the
//! other dialects: each function declaration counts (words of its description + 3); the
//! system instruction its words; each content 3 plus the words of its text parts and of the
//! string values in its function responses (inline data, file data and function calls count
//! nothing); plus 3 for the whole prompt. Functions are called when the request declares some
//! and either `functionCallingConfig.mode` is `ANY` or the last user text contains "use the
//! tool": the first allowed one, or all of them when the text says "use all the tools".
//! Thinking is on with `thinkingConfig.includeThoughts` or a positive `thinkingBudget`.
//!
//! Implicit caching: the tools and the system instruction are the cacheable prefix (see
//! [`IMPLICIT_CACHE_MIN_TOKENS`]).

use serde_json::{Map, Value};

use crate::chat::count_words as words;
use crate::gemini_error::GeminiError;
use crate::prompt::{FNV_OFFSET, call_tools, fnv};

/// The smallest prefix the mock's implicit cache keeps: when the tools and system instruction
/// together count at least this many tokens, the second and later requests with the same
/// model, tools and system instruction report them as `cachedContentTokenCount` (included in
/// `promptTokenCount`, as Gemini counts them). Shorter prefixes are never cached.
pub(crate) const IMPLICIT_CACHE_MIN_TOKENS: u64 = 32;

/// A parsed request.
pub(crate) struct GeminiRequest {
    pub(crate) prompt_tokens: u64,
    /// Tokens of the tools and system instruction (the implicitly cacheable prefix).
    pub(crate) prefix_tokens: u64,
    pub(crate) prefix_hash: u64,
    pub(crate) max_output_tokens: Option<u64>,
    pub(crate) thinking: bool,
    pub(crate) show_thoughts: bool,
    /// Function calls to answer with (name, args), empty for a text answer.
    pub(crate) calls: Vec<(String, Value)>,
    /// JSON mode (`responseMimeType: application/json`): the answer, an instance of
    /// `responseJsonSchema` (or `responseSchema`), one part and one token (no whitespace).
    pub(crate) json: Option<String>,
}

fn invalid(message: impl Into<String>) -> GeminiError {
    GeminiError::invalid_argument(message.into())
}

/// Words of every string inside a JSON value.
fn value_words(v: &Value) -> u64 {
    match v {
        Value::String(s) => words(s),
        Value::Array(a) => a.iter().map(value_words).sum(),
        Value::Object(o) => o.values().map(value_words).sum(),
        _ => 0,
    }
}

fn text_words(content: &Value) -> u64 {
    content
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            p.get("text").and_then(Value::as_str).map_or(0, words)
                + p.get("functionResponse")
                    .or_else(|| p.get("function_response"))
                    .and_then(|r| r.get("response"))
                    .map_or(0, value_words)
        })
        .sum()
}

/// Reads a field by its camelCase name or its proto (snake_case) alias.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(snake))
}

pub(crate) fn parse(body: &[u8], model: &str) -> Result<GeminiRequest, GeminiError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("Invalid JSON payload received. {e}")))?;
    let Some(obj) = v.as_object() else {
        return Err(invalid(
            "Invalid JSON payload received. Expected an object.",
        ));
    };
    let contents = match obj.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => {
            return Err(invalid(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ));
        }
    };
    refuse_ids(contents)?;
    let decls: Vec<&Value> = obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| {
            field(
                t.as_object()?,
                "functionDeclarations",
                "function_declarations",
            )
        })
        .filter_map(Value::as_array)
        .flatten()
        .collect();

    let mut prefix = 0u64;
    let mut hash = fnv(fnv(FNV_OFFSET, b"gemini"), model.as_bytes());
    for d in &decls {
        prefix += d
            .get("description")
            .and_then(Value::as_str)
            .map_or(0, words)
            + 3;
        hash = fnv(hash, d.to_string().as_bytes());
    }
    if let Some(system) = field(obj, "systemInstruction", "system_instruction") {
        prefix += text_words(system);
        hash = fnv(hash, system.to_string().as_bytes());
    }
    let conversation: u64 = contents.iter().map(|c| 3 + text_words(c)).sum();

    let config = field(obj, "generationConfig", "generation_config").and_then(Value::as_object);
    let max_output_tokens =
        match config.and_then(|c| field(c, "maxOutputTokens", "max_output_tokens")) {
            None => None,
            Some(n) => match n.as_u64() {
                Some(n) if n >= 1 => Some(n),
                _ => {
                    return Err(invalid(
                        "* GenerateContentRequest.generation_config.max_output_tokens: must be a \
                     positive integer\n",
                    ));
                }
            },
        };
    let thinking_config = config
        .and_then(|c| field(c, "thinkingConfig", "thinking_config"))
        .and_then(Value::as_object);
    let show_thoughts = thinking_config
        .and_then(|t| field(t, "includeThoughts", "include_thoughts"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let budget = thinking_config
        .and_then(|t| field(t, "thinkingBudget", "thinking_budget"))
        .and_then(Value::as_i64)
        .unwrap_or(0);

    let json = config
        .filter(|c| {
            field(c, "responseMimeType", "response_mime_type").and_then(Value::as_str)
                == Some("application/json")
        })
        .map(|c| {
            let schema = field(c, "responseJsonSchema", "response_json_schema")
                .or_else(|| field(c, "responseSchema", "response_schema"))
                .unwrap_or(&Value::Null);
            crate::schema::instance(schema, schema).to_string()
        });
    Ok(GeminiRequest {
        prompt_tokens: prefix + conversation + 3,
        prefix_tokens: prefix,
        prefix_hash: hash,
        max_output_tokens,
        thinking: show_thoughts || budget > 0,
        show_thoughts,
        calls: plan_calls(obj, &decls, contents),
        json,
    })
}

/// Gemini's request side has no `id` in function calls and responses (only its answers carry
/// one) and refuses it as an unknown field; the mock does too, so translations that send one
/// fail here as they would upstream.
fn refuse_ids(contents: &[Value]) -> Result<(), GeminiError> {
    for (i, c) in contents.iter().enumerate() {
        let parts = c.get("parts").and_then(Value::as_array);
        for (j, p) in parts.into_iter().flatten().enumerate() {
            for (camel, snake) in [
                ("functionCall", "function_call"),
                ("functionResponse", "function_response"),
            ] {
                if p.get(camel)
                    .or_else(|| p.get(snake))
                    .is_some_and(|f| f.get("id").is_some())
                {
                    return Err(invalid(format!(
                        "Invalid JSON payload received. Unknown name \"id\" at \
                         'contents[{i}].parts[{j}].{snake}': Cannot find field."
                    )));
                }
            }
        }
    }
    Ok(())
}

fn last_user_text(contents: &[Value]) -> String {
    contents
        .iter()
        .rev()
        .find(|c| c.get("role").and_then(Value::as_str) != Some("model"))
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn plan_calls(
    obj: &Map<String, Value>,
    decls: &[&Value],
    contents: &[Value],
) -> Vec<(String, Value)> {
    if decls.is_empty() {
        return Vec::new();
    }
    let calling = field(obj, "toolConfig", "tool_config")
        .and_then(Value::as_object)
        .and_then(|c| field(c, "functionCallingConfig", "function_calling_config"))
        .and_then(Value::as_object);
    let mode = calling.and_then(|c| c.get("mode")).and_then(Value::as_str);
    if mode == Some("NONE") {
        return Vec::new();
    }
    let text = last_user_text(contents);
    let all = text.contains("use all the tools");
    if mode != Some("ANY") && !all && !text.contains("use the tool") {
        return Vec::new();
    }
    let allowed: Vec<&str> = calling
        .and_then(|c| field(c, "allowedFunctionNames", "allowed_function_names"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let candidates = decls.iter().filter(|d| {
        allowed.is_empty()
            || d.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| allowed.contains(&n))
    });
    call_tools(candidates.copied(), None, all, "function", |d| {
        d.get("parametersJsonSchema")
            .or_else(|| d.get("parameters_json_schema"))
            .or_else(|| d.get("parameters"))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prompt_tokens_follow_the_documented_rule() {
        let body = br#"{
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "tools": [{"functionDeclarations": [{"name": "f", "description": "Get the weather"}]}],
            "contents": [
                {"role": "user", "parts": [{"text": "hello there"}, {"inlineData": {"mimeType": "image/png", "data": "AA=="}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"output": "sunny and warm"}}}]}
            ]}"#;
        let req = parse(body, "gemini-2.5-flash").unwrap();
        // tools 3+3, system 2, contents (3+2) + 3 + (3+3), priming 3.
        assert_eq!(req.prompt_tokens, 6 + 2 + 5 + 3 + 6 + 3);
        assert_eq!(req.prefix_tokens, 8);
        assert!(req.calls.is_empty());
    }

    #[test]
    fn functions_are_called_when_asked() {
        let body = br#"{
            "tools": [{"functionDeclarations": [
                {"name": "a", "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}, "required": ["city", "days"]}},
                {"name": "b"}]}],
            "contents": [{"role": "user", "parts": [{"text": "Please use all the tools"}]}]}"#;
        let req = parse(body, "m").unwrap();
        assert_eq!(
            req.calls,
            vec![
                ("a".to_owned(), json!({"city": "lorem", "days": 1})),
                ("b".to_owned(), json!({}))
            ]
        );
        let named = br#"{"tools": [{"functionDeclarations": [{"name": "a"}, {"name": "b"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["b"]}},
            "contents": [{"parts": [{"text": "hi"}]}]}"#;
        let calls = parse(named, "m").unwrap().calls;
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].0, "b");
    }

    #[test]
    fn function_call_ids_are_refused_as_gemini_does() {
        let body = br#"{"contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "f", "args": {}}}]}]}"#;
        let Err(e) = parse(body, "m") else {
            panic!("an id in a function call must be refused");
        };
        let body = e.body();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("contents[1].parts[0].function_call"),
            "{message}"
        );
    }

    #[test]
    fn bad_requests_are_refused() {
        assert!(parse(b"nope", "m").is_err());
        assert!(parse(br#"{"contents": []}"#, "m").is_err());
        assert!(parse(
            br#"{"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": 0}}"#,
            "m"
        )
        .is_err());
    }
}
