//! OpenRouter-style routing preferences in a chat request (`models: [...]`, `provider: {...}`,
//! `route`) and the features a request needs from a deployment (tools, images, JSON schema).
//!
//! Read in one pass over the top level; only `provider` is deserialised (it is small). The
//! routing fields are then cut out of the body by splicing, since providers do not know them.

use std::ops::Range;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::FormatError;
use crate::json;

/// Top-level keys that are for the router, never for the provider.
const ROUTER_KEYS: [&str; 3] = ["models", "provider", "route"];

/// What a request asks of the router.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoutingPrefs {
    /// OpenRouter's `models`: models to try, in order, after the one in `model`.
    pub models: Vec<String>,
    pub provider: ProviderPrefs,
    pub needs: Needs,
    /// The body holds router-only keys that [`strip_router_fields`] would remove.
    pub has_router_fields: bool,
}

/// Features of the request a deployment must support.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    pub tools: bool,
    pub vision: bool,
    pub json_schema: bool,
}

/// OpenRouter's `provider` object. Names match a deployment's provider name or its id.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProviderPrefs {
    /// Try these first, in this order.
    pub order: Vec<String>,
    /// Use only these.
    pub only: Vec<String>,
    /// Never use these.
    pub ignore: Vec<String>,
    /// When false, nothing outside `order` (or `only`) is tried.
    pub allow_fallbacks: bool,
    pub sort: Option<Sort>,
    pub max_price: Option<MaxPrice>,
    /// Only deployments known to support every feature the request uses.
    pub require_parameters: bool,
    pub data_collection: Option<DataCollectionPref>,
}

impl Default for ProviderPrefs {
    fn default() -> Self {
        ProviderPrefs {
            order: Vec::new(),
            only: Vec::new(),
            ignore: Vec::new(),
            allow_fallbacks: true,
            sort: None,
            max_price: None,
            require_parameters: false,
            data_collection: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    Price,
    Latency,
    Throughput,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataCollectionPref {
    Allow,
    Deny,
}

/// Highest acceptable price, USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct MaxPrice {
    pub prompt: Option<f64>,
    pub completion: Option<f64>,
}

/// Read the routing preferences and needed features of an OpenAI chat request.
pub fn peek_routing_prefs(body: &[u8]) -> Result<RoutingPrefs, FormatError> {
    let s = json::utf8(body)?;
    let mut prefs = RoutingPrefs::default();
    json::for_each_entry(s, |key, value| {
        match &*key {
            "models" => {
                prefs.has_router_fields = true;
                if !json::is_null(value) {
                    prefs.models = serde_json::from_str(value.get()).map_err(|_| {
                        FormatError::invalid_type(
                            "models",
                            "an array of strings",
                            json::kind(value),
                        )
                    })?;
                }
            }
            "provider" => {
                prefs.has_router_fields = true;
                if !json::is_null(value) {
                    prefs.provider = serde_json::from_str(value.get()).map_err(|_| {
                        FormatError::InvalidValue {
                            param: "provider",
                            reason: "expected an object with order, only, ignore, allow_fallbacks, sort, max_price, require_parameters or data_collection",
                        }
                    })?;
                }
            }
            "route" => prefs.has_router_fields = true,
            "tools" | "functions" => prefs.needs.tools |= value.get().trim_start().starts_with('['),
            // A JSON string "image_url" only appears as a content part's type (or its key).
            "messages" => prefs.needs.vision |= value.get().contains("\"image_url\""),
            "response_format" => prefs.needs.json_schema |= value.get().contains("\"json_schema\""),
            _ => {}
        }
        Ok(())
    })?;
    Ok(prefs)
}

/// The body without `models`, `provider` and `route`, every other byte as it was.
pub fn strip_router_fields(body: &[u8]) -> Result<Bytes, FormatError> {
    let s = json::utf8(body)?;
    let open = s.len() - s.trim_start().len();
    // (value range, strip?) for each entry, in order.
    let mut entries: Vec<(Range<usize>, bool)> = Vec::new();
    json::for_each_entry(s, |key, value: &RawValue| {
        let range = json::range_in(s, value.get())
            .ok_or_else(|| FormatError::InvalidJson("value outside the document".into()))?;
        entries.push((range, ROUTER_KEYS.contains(&&*key)));
        Ok(())
    })?;
    // Each run of consecutive router keys goes in one cut: after a kept entry, from that
    // entry's value end (its comma goes); at the start, from `{` to the next kept key.
    let mut edits: Vec<(Range<usize>, &[u8])> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        if !entries[i].1 {
            i += 1;
            continue;
        }
        let first = i;
        while i < entries.len() && entries[i].1 {
            i += 1;
        }
        let last_end = entries[i - 1].0.end;
        let range = if first > 0 {
            entries[first - 1].0.end..last_end
        } else if i < entries.len() {
            let rest = &s.as_bytes()[last_end..];
            let skip = rest
                .iter()
                .position(|b| !b.is_ascii_whitespace() && *b != b',')
                .unwrap_or(rest.len());
            open + 1..last_end + skip
        } else {
            open + 1..last_end
        };
        edits.push((range, b""));
    }
    Ok(Bytes::from(json::splice(s, &mut edits, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openrouter_preferences_and_needs_are_read() {
        let body = br#"{"model":"a","models":["b","c"],"provider":{"order":["x"],"ignore":["y"],"allow_fallbacks":false,"sort":"price","max_price":{"prompt":1.5},"require_parameters":true,"data_collection":"deny"},"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}],"tools":[{"type":"function"}],"response_format":{"type":"json_schema","json_schema":{}}}"#;
        let p = peek_routing_prefs(body).unwrap();
        assert_eq!(p.models, ["b", "c"]);
        assert_eq!(p.provider.order, ["x"]);
        assert_eq!(p.provider.ignore, ["y"]);
        assert!(!p.provider.allow_fallbacks);
        assert_eq!(p.provider.sort, Some(Sort::Price));
        assert_eq!(p.provider.max_price.unwrap().prompt, Some(1.5));
        assert!(p.provider.require_parameters);
        assert_eq!(p.provider.data_collection, Some(DataCollectionPref::Deny));
        assert_eq!(
            p.needs,
            Needs {
                tools: true,
                vision: true,
                json_schema: true
            }
        );
        assert!(p.has_router_fields);
    }

    #[test]
    fn a_plain_request_needs_nothing_and_falls_back_freely() {
        let p = peek_routing_prefs(
            br#"{"model":"a","messages":[{"role":"user","content":"an image_url here"}],"response_format":{"type":"json_object"}}"#,
        )
        .unwrap();
        assert_eq!(p, RoutingPrefs::default());
        assert!(p.provider.allow_fallbacks);
    }

    #[test]
    fn bad_preferences_are_refused() {
        assert!(peek_routing_prefs(br#"{"model":"a","models":"b"}"#).is_err());
        assert!(peek_routing_prefs(br#"{"model":"a","provider":{"sort":"vibes"}}"#).is_err());
    }

    #[test]
    fn router_fields_are_cut_and_everything_else_kept_byte_for_byte() {
        let strip = |b: &str| {
            String::from_utf8(strip_router_fields(b.as_bytes()).unwrap().to_vec()).unwrap()
        };
        assert_eq!(
            strip(r#"{"model":"a", "models":["b"], "x":1.50,"provider":{"order":[]}}"#),
            r#"{"model":"a", "x":1.50}"#
        );
        assert_eq!(
            strip(r#"{ "route":"fallback" , "model":"a"}"#),
            r#"{"model":"a"}"#
        );
        assert_eq!(
            strip(r#"{"models":["b"],"provider":{},"model":"a"}"#),
            r#"{"model":"a"}"#
        );
        assert_eq!(strip(r#"{"provider":{}}"#), r#"{}"#);
        assert_eq!(strip(r#"{"model":"a"}"#), r#"{"model":"a"}"#);
    }
}
