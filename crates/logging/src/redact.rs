//! Secrets never reach the request log: any Tollgate key (`tg-<key_id>-<secret…>`) inside a
//! stored body keeps its public key id and loses its secret.
//!
//! The match is deliberately loose on the secret (any run of 8+ letters and digits after the
//! key id), so truncated or mistyped keys are redacted too.

use std::borrow::Cow;

const PREFIX: &str = "tg-";
const KEY_ID_LEN: usize = 12;
const MIN_SECRET_LEN: usize = 8;
pub const REDACTED: &str = "[REDACTED]";

/// If a key starts at `at` (just after `tg-`), the byte range of its secret.
fn secret_at(bytes: &[u8], at: usize) -> Option<(usize, usize)> {
    let id_end = at + KEY_ID_LEN;
    if bytes.len() <= id_end
        || !bytes[at..id_end].iter().all(u8::is_ascii_alphanumeric)
        || bytes[id_end] != b'-'
    {
        return None;
    }
    let start = id_end + 1;
    let len = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric())
        .count();
    (len >= MIN_SECRET_LEN).then_some((start, start + len))
}

/// `text` with every key secret replaced by `[REDACTED]` (borrowed when there is none).
pub fn redact_keys(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut search = 0;
    while let Some(pos) = text[search..].find(PREFIX) {
        let at = search + pos + PREFIX.len();
        match secret_at(bytes, at) {
            Some((start, end)) => {
                // `start` and `end` sit next to ASCII bytes, so they are char boundaries.
                let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
                o.push_str(&text[copied..start]);
                o.push_str(REDACTED);
                copied = end;
                search = end;
            }
            None => search = at,
        }
    }
    match out {
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "tg-Ab3dEf6hIj9k-0123456789abcdefghijABCDEFGHIJKLMNop1a2B3c";

    #[test]
    fn keys_keep_their_id_and_lose_their_secret() {
        let body =
            format!(r#"{{"headers":{{"authorization":"Bearer {KEY}"}},"x-api-key":"{KEY}"}}"#);
        let out = redact_keys(&body);
        assert!(!out.contains("0123456789abcdef"), "{out}");
        assert_eq!(
            out.matches("tg-Ab3dEf6hIj9k-[REDACTED]").count(),
            2,
            "{out}"
        );
    }

    #[test]
    fn text_without_keys_is_untouched_and_not_copied() {
        for s in [
            "",
            "tg-",
            "a tg-short-x b",
            "tg-Ab3dEf6hIj9k-short",
            "stg-lane ünïcode tg-",
        ] {
            assert!(matches!(redact_keys(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn truncated_keys_and_keys_next_to_unicode_are_redacted() {
        let s = "é tg-Ab3dEf6hIj9k-0123456789é and tg-Ab3dEf6hIj9k-abcdefghijk";
        assert_eq!(
            redact_keys(s),
            "é tg-Ab3dEf6hIj9k-[REDACTED]é and tg-Ab3dEf6hIj9k-[REDACTED]"
        );
    }
}
