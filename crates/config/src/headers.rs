//! Which client request headers may travel to providers: the edge's list (`edge.forward_headers`,
//! what it hands routing) and each provider's (`providers[].forward_headers`, what routing passes
//! on to it). A header reaches a provider only when both lists name it, and a credential or
//! hop-by-hop header never does, whatever a list says.

use crate::{ConfigError, ProviderKind};

/// Refused on any list: credentials (the gateway's own key is not the provider's), cookies, and
/// headers the HTTP client sets itself.
pub const NEVER_FORWARDED: [&str; 18] = [
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cookie",
    "set-cookie",
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "upgrade",
    "x-amz-security-token",
];

/// A provider kind's list when its config gives none: the beta and version headers its SDKs
/// use to turn features on (Claude Code's `anthropic-beta` flags, OpenAI's `openai-beta`).
pub fn default_forward_headers(kind: ProviderKind) -> &'static [&'static str] {
    match kind {
        ProviderKind::Anthropic => &["anthropic-beta", "anthropic-version"],
        ProviderKind::Openai => &["openai-beta"],
        ProviderKind::Gemini | ProviderKind::Bedrock => &[],
    }
}

/// Every name on `list` is a valid lower-case header name that may be forwarded.
pub(crate) fn check_forward_list(field: &str, list: &[String]) -> Result<(), ConfigError> {
    for name in list {
        let invalid = |message: String| ConfigError::Invalid {
            field: field.to_owned(),
            message,
        };
        if http_name_is_valid(name) {
            if NEVER_FORWARDED.contains(&name.as_str()) || name.starts_with("x-amz-") {
                return Err(invalid(format!(
                    "`{name}` is never forwarded to providers (a credential or a header the \
                     gateway sets itself)"
                )));
            }
        } else {
            return Err(invalid(format!(
                "`{name}` is not a lower-case HTTP header name"
            )));
        }
    }
    Ok(())
}

/// RFC 9110 token characters, lower case (header names are compared in lower case).
fn http_name_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_bad_names_are_refused() {
        let ok = vec!["anthropic-beta".to_owned(), "x-custom-flag".to_owned()];
        assert!(check_forward_list("edge.forward_headers", &ok).is_ok());
        for bad in [
            "authorization",
            "x-api-key",
            "x-amz-date",
            "Anthropic-Beta",
            "a b",
            "",
        ] {
            let e = check_forward_list("edge.forward_headers", &[bad.to_owned()]).unwrap_err();
            assert!(e.to_string().contains("edge.forward_headers"), "{e}");
        }
    }

    #[test]
    fn each_kind_has_its_beta_headers() {
        assert!(default_forward_headers(ProviderKind::Anthropic).contains(&"anthropic-beta"));
        assert_eq!(
            default_forward_headers(ProviderKind::Openai),
            ["openai-beta"]
        );
        assert!(default_forward_headers(ProviderKind::Gemini).is_empty());
    }
}
