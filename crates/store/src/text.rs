//! Postgres `text` cannot hold NUL characters; one stray `\0` would fail a whole batch (and an
//! at-least-once sender would retry it forever), so NULs are replaced before binding.

use std::borrow::Cow;

pub(crate) fn pg_text(s: &str) -> Cow<'_, str> {
    if s.contains('\0') {
        Cow::Owned(s.replace('\0', "\u{FFFD}"))
    } else {
        Cow::Borrowed(s)
    }
}

pub(crate) fn pg_text_owned(s: &str) -> String {
    pg_text(s).into_owned()
}

/// Saturating conversion of a counter into Postgres `bigint`.
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_characters_are_replaced_and_clean_text_is_borrowed() {
        assert_eq!(pg_text("a\0b"), "a\u{FFFD}b");
        assert!(matches!(pg_text("plain"), Cow::Borrowed(_)));
        assert_eq!(big(u64::MAX), i64::MAX);
    }
}
