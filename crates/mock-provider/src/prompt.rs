//! What the Messages, Gemini and Bedrock mocks share in reading a prompt: the hash that
//! identifies a cached prefix, and which tools they call with what deterministic input.

use serde_json::{Map, Value, json};

/// FNV-1a's offset basis: the hash of nothing.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a over `bytes`, continuing from `h`: cheap, stable across runs and good enough to tell
/// prompt prefixes apart.
pub(crate) fn fnv(h: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The tool calls the mock answers with, as (name, input): the tool `named`, or all of them
/// when `all`, or the first. `schema` finds a tool's JSON schema; a tool without a name is
/// called `unnamed`.
pub(crate) fn call_tools<'a>(
    tools: impl IntoIterator<Item = &'a Value>,
    named: Option<&str>,
    all: bool,
    unnamed: &str,
    schema: impl Fn(&'a Value) -> Option<&'a Value>,
) -> Vec<(String, Value)> {
    let name_of = |t: &'a Value| t.get("name").and_then(Value::as_str);
    let tools = tools.into_iter();
    let chosen: Vec<&Value> = match named {
        Some(name) => tools.filter(|t| name_of(t) == Some(name)).take(1).collect(),
        None if all => tools.collect(),
        None => tools.take(1).collect(),
    };
    chosen
        .into_iter()
        .map(|t| {
            let name = name_of(t).unwrap_or(unnamed).to_owned();
            (name, tool_input(schema(t)))
        })
        .collect()
}

/// A deterministic input satisfying the JSON schema's required properties (strings "lorem",
/// numbers 1, booleans true, arrays and objects empty). Type names are read case-insensitively
/// because Gemini's OpenAPI schemas spell them in capitals.
fn tool_input(schema: Option<&Value>) -> Value {
    let mut input = Map::new();
    let Some(schema) = schema else {
        return Value::Object(input);
    };
    let props = schema.get("properties");
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let kind = props
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let value = match kind.as_deref() {
            Some("number" | "integer") => json!(1),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => json!("lorem"),
        };
        input.insert(name.to_owned(), value);
    }
    Value::Object(input)
}
