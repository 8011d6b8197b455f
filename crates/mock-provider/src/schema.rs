//! A deterministic JSON value valid against a JSON schema, for answers that must follow one
//! (Responses `text.format` `json_schema`): every property of an object (required or not, so
//! strict schemas are met), the first `enum` value or the `const`, the first `anyOf`/`oneOf`
//! branch, `$ref`s into the root's `$defs`/`definitions`, and as many array items as
//! `minItems` asks. Strings are "lorem", numbers the `minimum` or 1, booleans true.

use serde_json::{Map, Value, json};

/// Nesting beyond this (a recursive schema) answers null.
const MAX_DEPTH: usize = 16;

/// An instance of `schema`; `root` resolves `$ref`s.
pub(crate) fn instance(schema: &Value, root: &Value) -> Value {
    at(schema, root, 0)
}

fn at(schema: &Value, root: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(s) = schema.as_object() else {
        return json!({});
    };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix('#')
            .and_then(|p| root.pointer(p))
            .unwrap_or(&Value::Null);
        return at(target, root, depth + 1);
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|b| b.first()) {
            return at(first, root, depth + 1);
        }
    }
    let kind = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        // `["string", "null"]`: the first that is not null.
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "object",
    };
    match kind {
        "string" => json!("lorem"),
        "integer" => json!(s.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
        "number" => s.get("minimum").cloned().unwrap_or(json!(1)),
        "boolean" => json!(true),
        "null" => Value::Null,
        "array" => {
            let n = s.get("minItems").and_then(Value::as_u64).unwrap_or(0);
            let item = s.get("items").unwrap_or(&Value::Null);
            Value::Array((0..n).map(|_| at(item, root, depth + 1)).collect())
        }
        _ => {
            let mut out = Map::new();
            for (name, prop) in s
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                out.insert(name.clone(), at(prop, root, depth + 1));
            }
            Value::Object(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_property_gets_a_valid_value() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "age": {"type": "integer", "minimum": 18},
                "score": {"type": ["number", "null"]},
                "ok": {"type": "boolean"},
                "mood": {"enum": ["calm", "busy"]},
                "kind": {"const": "report"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "home": {"$ref": "#/$defs/place"},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]}
            },
            "required": ["name"],
            "additionalProperties": false,
            "$defs": {"place": {"type": "object", "properties": {"city": {"type": "string"}}}}
        });
        assert_eq!(
            instance(&schema, &schema),
            json!({"name": "lorem", "age": 18, "score": 1, "ok": true, "mood": "calm",
                   "kind": "report", "tags": ["lorem", "lorem"], "home": {"city": "lorem"},
                   "either": 1})
        );
    }

    #[test]
    fn recursive_schemas_end() {
        let schema = json!({"$defs": {"n": {"type": "object", "properties": {"next": {"$ref": "#/$defs/n"}}}}, "$ref": "#/$defs/n"});
        assert!(instance(&schema, &schema).is_object());
    }
}
