//! The request's cost, shown to the caller: an `x-tollgate-cost` header (decimal USD) and
//! `usage.cost` in a non-streamed body, as OpenRouter clients read it.
//!
//! The body is not re-serialised: the field is spliced in after the top-level `"usage":{`, so
//! every other byte stays as the provider sent it. Inside JSON strings quotes are escaped, so an
//! unescaped `"usage":{` can only be a key; the last one is the top-level object's (usage comes
//! after choices).

use bytes::{Bytes, BytesMut};
use memchr::memmem;
use tollgate_domain::Money;

const KEY: &[u8] = b"\"usage\":{";

/// The cost as a JSON number with no trailing zeros (`0.00001065`).
pub fn decimal(cost: Money) -> String {
    cost.to_usd().normalize().to_string()
}

/// `body` with `"cost":<usd>` added as the first field of its top-level `usage` object; the body
/// unchanged when it has none.
pub fn inject(body: &[u8], cost: Money) -> Bytes {
    let Some(at) = memmem::rfind(body, KEY) else {
        return Bytes::copy_from_slice(body);
    };
    let split = at + KEY.len();
    let value = decimal(cost);
    let rest_is_empty = body[split..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'}');
    let mut out = BytesMut::with_capacity(body.len() + value.len() + 9);
    out.extend_from_slice(&body[..split]);
    out.extend_from_slice(b"\"cost\":");
    out.extend_from_slice(value.as_bytes());
    if !rest_is_empty {
        out.extend_from_slice(b",");
    }
    out.extend_from_slice(&body[split..]);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn cost_lands_in_the_top_level_usage_and_nothing_else_moves() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"say \"usage\":{ here"}}],"usage":{"prompt_tokens":7,"completion_tokens":16}}"#;
        let out = inject(body, Money::from_picos(10_650_000));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["usage"]["cost"].as_f64().unwrap(), 0.00001065);
        assert_eq!(v["usage"]["prompt_tokens"], 7);
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "say \"usage\":{ here"
        );
        let s = String::from_utf8(out.to_vec()).unwrap();
        assert!(s.starts_with(r#"{"id":"x","choices""#), "{s}");
    }

    #[test]
    fn an_empty_usage_or_none_at_all_stays_valid() {
        let out = inject(br#"{"usage":{ }}"#, Money::from_picos(1));
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["usage"]["cost"].as_f64().unwrap(), 1e-12);
        assert_eq!(&inject(b"{\"a\":1}", Money::ZERO)[..], b"{\"a\":1}");
    }
}
