//! The edge's one look at a chat request: the fields admission and routing need, and a prompt
//! size estimate, in a single pass over the body with no `Value` tree.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::FormatError;
use crate::json::{self, Key};

/// Tokens charged for an image when estimating a prompt (OpenAI's high-detail 512px tile
/// count for a typical image): a base64 image is mostly bytes that are not tokens.
pub(crate) const IMAGE_TOKENS: u64 = 765;
/// Per-message framing tokens (role, separators) in OpenAI's chat format.
const MESSAGE_TOKENS: u64 = 4;

/// What the edge needs from an OpenAI chat request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatPeek {
    pub model: String,
    pub stream: bool,
    /// `stream_options.include_usage`, only ever true when `stream` is.
    pub include_usage: bool,
    /// `max_completion_tokens`, else the legacy `max_tokens`.
    pub max_tokens: Option<u64>,
    pub message_count: u32,
    /// A cheap prompt size estimate (text bytes / 4, plus images and per-message framing), used to
    /// reserve rate limits and to bill a client that hangs up before the provider reports usage.
    pub prompt_tokens_estimate: u64,
}

/// Peek an OpenAI chat completions request. Refuses what OpenAI would refuse with a 400 for these
/// fields; leaves everything else (content parts, tools, sampling parameters) to the provider.
pub fn peek_chat(body: &[u8]) -> Result<ChatPeek, FormatError> {
    let s = json::utf8(body)?;
    json::require_object(s)?;
    let mut de = serde_json::Deserializer::from_str(s);
    let fields = de
        .deserialize_map(FieldsVisitor)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| FormatError::InvalidJson(e.to_string()))?;
    fields.finish()
}

#[derive(Default)]
struct Fields<'a> {
    model: Option<&'a RawValue>,
    stream: Option<&'a RawValue>,
    stream_options: Option<&'a RawValue>,
    max_tokens: Option<&'a RawValue>,
    max_completion_tokens: Option<&'a RawValue>,
    messages: Option<Messages>,
    size: TextSize,
}

impl Fields<'_> {
    fn finish(self) -> Result<ChatPeek, FormatError> {
        let model = match self.model {
            None => return Err(FormatError::MissingModel),
            Some(raw) if json::is_null(raw) => return Err(FormatError::MissingModel),
            Some(raw) => serde_json::from_str::<String>(raw.get())
                .map_err(|_| FormatError::invalid_type("model", "a string", json::kind(raw)))?,
        };
        if model.is_empty() {
            return Err(FormatError::MissingModel);
        }
        let message_count = match self.messages {
            None | Some(Messages::Null) => {
                return Err(FormatError::MissingParameter("messages".into()));
            }
            Some(Messages::NotArray(got)) => {
                return Err(FormatError::invalid_type("messages", "an array", got));
            }
            Some(Messages::Array { fault: Some(f), .. }) => return Err(f),
            Some(Messages::Array { count: 0, .. }) => {
                return Err(FormatError::EmptyArray("messages"));
            }
            Some(Messages::Array { count, .. }) => count,
        };
        let stream = opt_bool(self.stream, "stream")?.unwrap_or(false);
        let include_usage = match self.stream_options {
            Some(raw) if !json::is_null(raw) => stream_include_usage(raw)?,
            _ => false,
        };
        let max_tokens = match opt_count(self.max_completion_tokens, "max_completion_tokens")? {
            Some(n) => Some(n),
            None => opt_count(self.max_tokens, "max_tokens")?,
        };
        let prompt_tokens_estimate = self.size.bytes.div_ceil(4)
            + self.size.images * IMAGE_TOKENS
            + u64::from(message_count) * MESSAGE_TOKENS;
        Ok(ChatPeek {
            model,
            stream,
            include_usage: stream && include_usage,
            max_tokens,
            message_count,
            prompt_tokens_estimate,
        })
    }
}

pub(crate) fn opt_bool(
    raw: Option<&RawValue>,
    param: &'static str,
) -> Result<Option<bool>, FormatError> {
    match raw.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(FormatError::invalid_type(
            param,
            "a boolean",
            raw.map_or("null", json::kind),
        )),
    }
}

pub(crate) fn opt_count(
    raw: Option<&RawValue>,
    param: &'static str,
) -> Result<Option<u64>, FormatError> {
    let Some(raw) = raw.filter(|r| !json::is_null(r)) else {
        return Ok(None);
    };
    match json::kind(raw) {
        "an integer" => match raw.get().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            // Negative, zero, or beyond u64: OpenAI's "integer below minimum value".
            _ => Err(FormatError::InvalidValue {
                param,
                reason: "integer out of range. Expected a value >= 1.",
            }),
        },
        got => Err(FormatError::invalid_type(param, "an integer", got)),
    }
}

fn stream_include_usage(raw: &RawValue) -> Result<bool, FormatError> {
    if json::kind(raw) != "an object" {
        return Err(FormatError::invalid_type(
            "stream_options",
            "an object",
            json::kind(raw),
        ));
    }
    let mut include = None;
    json::for_each_entry(raw.get(), |k, v| {
        if &*k == "include_usage" {
            include = opt_bool(Some(v), "stream_options.include_usage")?;
        }
        Ok(())
    })?;
    Ok(include.unwrap_or(false))
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut f = Fields::default();
        // Duplicate keys: the last one wins, as in every mainstream JSON parser.
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key {
                "model" => f.model = Some(map.next_value()?),
                "stream" => f.stream = Some(map.next_value()?),
                "stream_options" => f.stream_options = Some(map.next_value()?),
                "max_tokens" => f.max_tokens = Some(map.next_value()?),
                "max_completion_tokens" => f.max_completion_tokens = Some(map.next_value()?),
                "messages" => f.messages = Some(map.next_value_seed(MessagesSeed(&mut f.size))?),
                // Tool definitions are part of the prompt the provider bills.
                "tools" | "functions" => map.next_value_seed(TextSeed(&mut f.size))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(f)
    }
}

/// Bytes of text and images counted towards the prompt estimate.
#[derive(Default)]
pub(crate) struct TextSize {
    pub(crate) bytes: u64,
    pub(crate) images: u64,
}

/// Sums the length of every string in a value; `data:` URLs (inline images, audio) count as one
/// image each instead of their base64 length.
pub(crate) struct TextSeed<'s>(pub(crate) &'s mut TextSize);

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
        if v.starts_with("data:") {
            self.0.images += 1;
        } else {
            self.0.bytes += v.len() as u64;
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
        while seq.next_element_seed(TextSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(TextSeed(&mut *self.0))?;
        }
        Ok(())
    }
}

/// What `messages` turned out to be.
enum Messages {
    Null,
    NotArray(&'static str),
    Array {
        count: u32,
        /// The first malformed message.
        fault: Option<FormatError>,
    },
}

struct MessagesSeed<'s>(&'s mut TextSize);

impl<'de> DeserializeSeed<'de> for MessagesSeed<'_> {
    type Value = Messages;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Messages, D::Error> {
        d.deserialize_any(self)
    }
}

/// Implements the non-array cases of a visitor by naming the JSON type found.
macro_rules! wrong_type {
    ($ret:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($ret("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($ret("an integer"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($ret("an integer"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($ret("a decimal"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($ret("a string"))
        }
    };
}

impl<'de> Visitor<'de> for MessagesSeed<'_> {
    type Value = Messages;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of messages")
    }
    wrong_type!(Messages::NotArray);
    fn visit_unit<E: de::Error>(self) -> Result<Messages, E> {
        Ok(Messages::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Messages, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Messages::NotArray("an object"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Messages, A::Error> {
        let mut count: u32 = 0;
        let mut fault = None;
        while let Some(shape) = seq.next_element_seed(MessageSeed(&mut *self.0))? {
            if fault.is_none() {
                fault = shape.into_error(count);
            }
            count = count.saturating_add(1);
        }
        Ok(Messages::Array { count, fault })
    }
}

/// What one element of `messages` turned out to be.
enum MessageShape {
    Ok,
    NotObject(&'static str),
    MissingRole,
    RoleNotString(&'static str),
}

impl MessageShape {
    fn into_error(self, index: u32) -> Option<FormatError> {
        match self {
            MessageShape::Ok => None,
            MessageShape::NotObject(got) => Some(FormatError::invalid_type(
                format!("messages[{index}]"),
                "an object",
                got,
            )),
            MessageShape::MissingRole => Some(FormatError::MissingParameter(
                format!("messages[{index}].role").into(),
            )),
            MessageShape::RoleNotString(got) => Some(FormatError::invalid_type(
                format!("messages[{index}].role"),
                "a string",
                got,
            )),
        }
    }
}

struct MessageSeed<'s>(&'s mut TextSize);

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = MessageShape;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<MessageShape, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = MessageShape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }
    wrong_type!(MessageShape::NotObject);
    fn visit_unit<E: de::Error>(self) -> Result<MessageShape, E> {
        Ok(MessageShape::NotObject("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessageShape, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(MessageShape::NotObject("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MessageShape, A::Error> {
        let mut role = None;
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if &*key == "role" {
                let raw: &'de RawValue = map.next_value()?;
                role = Some(json::kind(raw));
            } else {
                map.next_value_seed(TextSeed(&mut *self.0))?;
            }
        }
        Ok(match role {
            None | Some("null") => MessageShape::MissingRole,
            Some("a string") => MessageShape::Ok,
            Some(got) => MessageShape::RoleNotString(got),
        })
    }
}

#[cfg(test)]
#[path = "peek_tests.rs"]
mod tests;
