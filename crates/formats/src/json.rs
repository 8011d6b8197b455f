//! Zero-copy walking of a JSON object's top level: each key with its value as a `&RawValue`
//! borrowed from the input, so callers can read a few fields and splice others without building
//! a `serde_json::Value` tree.

use std::fmt;
use std::ops::{Deref, Range};

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::FormatError;

/// An object key: borrowed from the input unless it contained escapes.
pub(crate) enum Key<'a> {
    Borrowed(&'a str),
    Owned(String),
}

impl Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

struct Entries<'f, F> {
    f: &'f mut F,
    stopped: &'f mut Option<FormatError>,
}

impl<'de, F> DeserializeSeed<'de> for Entries<'_, F>
where
    F: FnMut(Key<'de>, &'de RawValue) -> Result<(), FormatError>,
{
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F> Visitor<'de> for Entries<'_, F>
where
    F: FnMut(Key<'de>, &'de RawValue) -> Result<(), FormatError>,
{
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let value: &'de RawValue = map.next_value()?;
            if let Err(e) = (self.f)(key, value) {
                *self.stopped = Some(e);
                return Err(de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Call `f` for each top-level entry of the JSON object `s`, in document order (duplicates
/// included). The whole document is validated, trailing garbage included.
pub(crate) fn for_each_entry<'a, F>(s: &'a str, mut f: F) -> Result<(), FormatError>
where
    F: FnMut(Key<'a>, &'a RawValue) -> Result<(), FormatError>,
{
    require_object(s)?;
    let mut stopped = None;
    let mut de = serde_json::Deserializer::from_str(s);
    let walked = Entries {
        f: &mut f,
        stopped: &mut stopped,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end());
    match (walked, stopped) {
        (_, Some(e)) => Err(e),
        (Ok(()), None) => Ok(()),
        (Err(e), None) => Err(FormatError::InvalidJson(e.to_string())),
    }
}

/// Refuse early, with the right error, a document that is not an object.
pub(crate) fn require_object(s: &str) -> Result<(), FormatError> {
    if s.trim_start().as_bytes().first() == Some(&b'{') {
        return Ok(());
    }
    Err(match serde_json::from_str::<IgnoredAny>(s) {
        Ok(_) => FormatError::NotAnObject,
        Err(e) => FormatError::InvalidJson(e.to_string()),
    })
}

/// The body as UTF-8, which JSON requires.
pub(crate) fn utf8(body: &[u8]) -> Result<&str, FormatError> {
    std::str::from_utf8(body)
        .map_err(|e| FormatError::InvalidJson(format!("the body is not valid UTF-8: {e}")))
}

/// Where `part` (a slice of `base`, such as a borrowed `RawValue`) sits inside `base`.
pub(crate) fn range_in(base: &str, part: &str) -> Option<Range<usize>> {
    let start = part.as_ptr().addr().checked_sub(base.as_ptr().addr())?;
    let end = start.checked_add(part.len())?;
    (end <= base.len()).then_some(start..end)
}

/// The JSON type of a raw value, worded as OpenAI's "got ..." in type errors.
pub(crate) fn kind(raw: &RawValue) -> &'static str {
    let s = raw.get();
    match s.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ if s.contains(['.', 'e', 'E']) => "a decimal",
        _ => "an integer",
    }
}

/// A request's `model` as the peeks read it: required, a non-empty string.
pub(crate) fn required_model(raw: Option<&RawValue>) -> Result<String, FormatError> {
    let model = match raw.filter(|r| !is_null(r)) {
        None => return Err(FormatError::MissingModel),
        Some(raw) => serde_json::from_str::<String>(raw.get())
            .map_err(|_| FormatError::invalid_type("model", "a string", kind(raw)))?,
    };
    if model.is_empty() {
        return Err(FormatError::MissingModel);
    }
    Ok(model)
}

pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// A copy of `base` with each edit's range replaced by its bytes. Ranges come from
/// [`range_in`] on distinct JSON values, so they never overlap; `extra` is a capacity hint.
pub(crate) fn splice(base: &str, edits: &mut [(Range<usize>, &[u8])], extra: usize) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(base.len() + extra);
    let mut at = 0;
    for (range, with) in edits.iter() {
        if range.start < at {
            // Overlapping edits cannot come from distinct JSON values; skip rather than panic.
            continue;
        }
        out.extend_from_slice(&base.as_bytes()[at..range.start]);
        out.extend_from_slice(with);
        at = range.end;
    }
    out.extend_from_slice(&base.as_bytes()[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_are_slices_of_the_input_without_surrounding_whitespace() {
        let s = r#" { "a" :  [1, 2] , "b\u0041":"x" } "#;
        let mut seen = Vec::new();
        for_each_entry(s, |k, v| {
            seen.push((k.to_string(), range_in(s, v.get()).unwrap()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].0, "a");
        assert_eq!(&s[seen[0].1.clone()], "[1, 2]");
        assert_eq!(seen[1].0, "bA");
        assert_eq!(&s[seen[1].1.clone()], "\"x\"");
    }

    #[test]
    fn trailing_garbage_and_non_objects_are_refused() {
        assert!(matches!(
            for_each_entry("{} x", |_, _| Ok(())),
            Err(FormatError::InvalidJson(_))
        ));
        assert_eq!(
            for_each_entry("[1]", |_, _| Ok(())),
            Err(FormatError::NotAnObject)
        );
        assert!(matches!(
            for_each_entry("", |_, _| Ok(())),
            Err(FormatError::InvalidJson(_))
        ));
    }

    #[test]
    fn a_callback_error_is_returned_as_is() {
        let r = for_each_entry(r#"{"a":1}"#, |_, _| Err(FormatError::MissingModel));
        assert_eq!(r, Err(FormatError::MissingModel));
    }

    #[test]
    fn kinds_read_like_openai() {
        let k = |s: &str| kind(&serde_json::from_str::<Box<RawValue>>(s).unwrap());
        assert_eq!(k("\"x\""), "a string");
        assert_eq!(k("1"), "an integer");
        assert_eq!(k("-1.5"), "a decimal");
        assert_eq!(k("1e3"), "a decimal");
        assert_eq!(k("true"), "a boolean");
        assert_eq!(k("null"), "null");
        assert_eq!(k("{}"), "an object");
        assert_eq!(k("[]"), "an array");
    }
}
