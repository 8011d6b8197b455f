//! How deeply a JSON body nests, by a byte scan before any parse: a body of a million `[` is
//! refused in one pass over its bytes, without a parser recursing into it.

/// Whether `body` nests objects and arrays deeper than `max`. Brackets inside strings (escapes
/// included) do not count. Malformed JSON is not judged here: the parse that follows refuses it.
pub fn exceeds_depth(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_not_brackets_in_strings() {
        assert!(!exceeds_depth(br#"{"a":[{"b":1}]}"#, 3));
        assert!(exceeds_depth(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!exceeds_depth(br#"{"a":"[[[[[[\"[[[["}"#, 1));
        assert!(!exceeds_depth(br#"{"a":"\\"}"#, 1));
        assert!(exceeds_depth(br#"{"a":"\\",  "b":[[1]]}"#, 2));
        let deep = "[".repeat(100_000);
        assert!(exceeds_depth(deep.as_bytes(), 64));
        assert!(!exceeds_depth(b"", 0));
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_the_nesting_it_was_built_with(d in 0usize..200, max in 0usize..200) {
            let body = format!("{}1{}", "[{\"k\":".repeat(d), "}]".repeat(d));
            proptest::prop_assert_eq!(exceeds_depth(body.as_bytes(), max), 2 * d > max);
        }
    }
}
