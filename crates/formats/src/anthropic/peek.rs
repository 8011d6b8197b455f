//! The edge's one look at a Messages request: the fields admission and routing need, and a
//! prompt size estimate, without building a `Value` tree.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::FormatError;
use crate::json;

/// Tokens charged per inline image or document when estimating (Anthropic's documented cost of
/// a ~1.15 megapixel image, width * height / 750): base64 bytes are not tokens.
const IMAGE_TOKENS: u64 = 1_600;
/// Per-message framing tokens.
const MESSAGE_TOKENS: u64 = 3;

/// What the edge needs from a Messages request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagesPeek {
    pub model: String,
    pub stream: bool,
    /// Required by Anthropic, so always present.
    pub max_tokens: u64,
    pub message_count: u32,
    /// Text bytes / 4 of messages, system and tools, plus [`IMAGE_TOKENS`] per inline image or
    /// document and per-message framing; for reserving limits and billing a client that hangs up.
    pub prompt_tokens_estimate: u64,
}

#[derive(Deserialize)]
struct View<'a> {
    #[serde(borrow, default)]
    model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    max_tokens: Option<&'a RawValue>,
    #[serde(borrow, default)]
    stream: Option<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default)]
    system: Option<&'a RawValue>,
    #[serde(borrow, default)]
    tools: Option<&'a RawValue>,
}

/// Peek an Anthropic Messages request. Refuses what Anthropic refuses with a 400 for these
/// fields (`model`, `max_tokens` and `messages` are required); leaves the rest to the provider.
pub fn peek_messages(body: &[u8]) -> Result<MessagesPeek, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let view: View<'_> =
        serde_json::from_str(s).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    let model = json::required_model(view.model)?;
    let max_tokens = match view.max_tokens.filter(|r| !json::is_null(r)) {
        None => return Err(FormatError::MissingParameter("max_tokens".into())),
        Some(raw) if json::kind(raw) != "an integer" => {
            return Err(FormatError::invalid_type(
                "max_tokens",
                "an integer",
                json::kind(raw),
            ));
        }
        Some(raw) => match raw.get().parse::<u64>() {
            Ok(n) if n >= 1 => n,
            _ => {
                return Err(FormatError::InvalidValue {
                    param: "max_tokens",
                    reason: "integer out of range. Expected a value >= 1.",
                });
            }
        },
    };
    let stream = match view.stream.map(RawValue::get) {
        None | Some("null" | "false") => false,
        Some("true") => true,
        Some(_) => {
            let got = view.stream.map_or("null", json::kind);
            return Err(FormatError::invalid_type("stream", "a boolean", got));
        }
    };
    let messages = match view.messages.filter(|r| !json::is_null(r)) {
        None => return Err(FormatError::MissingParameter("messages".into())),
        Some(raw) if json::kind(raw) != "an array" => {
            return Err(FormatError::invalid_type(
                "messages",
                "an array",
                json::kind(raw),
            ));
        }
        Some(raw) => raw,
    };
    let mut size = TextSize::default();
    let message_count = count_messages(messages, &mut size)?;
    if message_count == 0 {
        return Err(FormatError::EmptyArray("messages"));
    }
    for raw in [view.system, view.tools].into_iter().flatten() {
        measure(raw, &mut size)?;
    }
    Ok(MessagesPeek {
        model,
        stream,
        max_tokens,
        message_count,
        prompt_tokens_estimate: size.bytes.div_ceil(4)
            + size.images * IMAGE_TOKENS
            + u64::from(message_count) * MESSAGE_TOKENS,
    })
}

fn count_messages(raw: &RawValue, size: &mut TextSize) -> Result<u32, FormatError> {
    let items: Vec<&RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    for (i, item) in items.iter().enumerate() {
        if json::kind(item) != "an object" {
            return Err(FormatError::invalid_type(
                format!("messages[{i}]"),
                "an object",
                json::kind(item),
            ));
        }
        measure(item, size)?;
    }
    Ok(u32::try_from(items.len()).unwrap_or(u32::MAX))
}

fn measure(raw: &RawValue, size: &mut TextSize) -> Result<(), FormatError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    TextSeed {
        size,
        under_data: false,
    }
    .deserialize(&mut de)
    .map_err(|e| FormatError::InvalidJson(e.to_string()))
}

#[derive(Default)]
struct TextSize {
    bytes: u64,
    images: u64,
}

/// Sums string lengths; a string under a `data` key (a base64 image or document source, or
/// redacted thinking) counts as one image instead.
struct TextSeed<'s> {
    size: &'s mut TextSize,
    under_data: bool,
}

impl<'de> DeserializeSeed<'de> for TextSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.under_data {
            self.size.images += 1;
        } else {
            self.size.bytes += v.len() as u64;
        }
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(TextSeed {
                size: &mut *self.size,
                under_data: false,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<json::Key<'de>>()? {
            let under_data = &*key == "data";
            if &*key == "type" || &*key == "media_type" {
                // Block type tags are framing, not prompt text.
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(TextSeed {
                size: &mut *self.size,
                under_data,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::anthropic::StreamUsage;

    proptest! {
        /// Arbitrary input gives an error or a peek, never a panic; the same for usage readers.
        #[test]
        fn never_panics_on_arbitrary_input(
            s in r#"[{}\[\]":,a-z0-9 .\-]{0,80}"#,
            bytes in prop::collection::vec(any::<u8>(), 0..64),
        ) {
            let wrapped = format!(r#"{{"model":"m","max_tokens":1,"messages":[{s}]}}"#);
            for body in [s.as_bytes(), bytes.as_slice(), wrapped.as_bytes()] {
                let _ = peek_messages(body);
                let _ = crate::anthropic::usage_from_response(body);
                if let Ok(text) = std::str::from_utf8(body) {
                    let _ = StreamUsage::new().observe(text);
                    let mut out = Vec::new();
                    let _ = crate::translate::AnthropicToOpenAiStream::new(0, true, None)
                        .push_data(text, &mut out);
                    let mut out = Vec::new();
                    let _ = crate::translate::OpenAiToAnthropicStream::new().push_data(text, &mut out);
                }
            }
        }
    }

    #[test]
    fn reads_the_fields_admission_needs() {
        let p = peek_messages(
            br#"{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true,
                "system":[{"type":"text","text":"abcdefgh","cache_control":{"type":"ephemeral"}}],
                "messages":[{"role":"user","content":"Hello, world"},
                  {"role":"assistant","content":[{"type":"text","text":"Hi!"}]},
                  {"role":"user","content":[{"type":"image","source":{"type":"base64",
                    "media_type":"image/png","data":"iVBORw0KGgo="}}]}]}"#,
        )
        .unwrap();
        assert_eq!(p.model, "claude-sonnet-4-5");
        assert!(p.stream);
        assert_eq!(p.max_tokens, 1024);
        assert_eq!(p.message_count, 3);
        // Roles 4+9+4 and texts 12+3+8 are 40 bytes, 10 tokens (type tags are not counted);
        // one image; 3 messages.
        assert_eq!(p.prompt_tokens_estimate, 10 + IMAGE_TOKENS + 9);
    }

    #[test]
    fn refuses_what_anthropic_refuses() {
        let cases: [(&[u8], FormatError); 6] = [
            (
                br#"{"max_tokens":1,"messages":[{"role":"user","content":"x"}]}"#,
                FormatError::MissingModel,
            ),
            (
                br#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#,
                FormatError::MissingParameter("max_tokens".into()),
            ),
            (
                br#"{"model":"m","max_tokens":1}"#,
                FormatError::MissingParameter("messages".into()),
            ),
            (
                br#"{"model":"m","max_tokens":1,"messages":[]}"#,
                FormatError::EmptyArray("messages"),
            ),
            (
                br#"{"model":"m","max_tokens":"1","messages":[{}]}"#,
                FormatError::invalid_type("max_tokens", "an integer", "a string"),
            ),
            (
                br#"{"model":"m","max_tokens":1,"messages":[1]}"#,
                FormatError::invalid_type("messages[0]", "an object", "an integer"),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(peek_messages(body), Err(want));
        }
        assert!(matches!(
            peek_messages(br#"{"model":"m","max_tokens":0,"messages":[{}]}"#),
            Err(FormatError::InvalidValue {
                param: "max_tokens",
                ..
            })
        ));
        assert_eq!(peek_messages(b"[]"), Err(FormatError::NotAnObject));
        assert!(matches!(
            peek_messages(b"{"),
            Err(FormatError::InvalidJson(_))
        ));
    }
}
