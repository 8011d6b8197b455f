//! AWS Signature Version 4 for Bedrock Runtime requests: the headers to add to one request so
//! AWS accepts it (`authorization`, `x-amz-date`, and `x-amz-security-token` with temporary
//! credentials). The signing itself is `aws-sigv4`'s; this module only adapts our request parts
//! to it and keeps the secret out of `Debug`.
//!
//! Must not: log, cache or return the secret key; sign anything but the bytes that are sent.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as aws_sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// The SigV4 service name of Bedrock Runtime (`bedrock-runtime.<region>.amazonaws.com` signs
/// as `bedrock`).
pub(crate) const SERVICE: &str = "bedrock";

/// A deployment's AWS credentials.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AwsCredentials {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
    /// Present for temporary (STS) credentials; sent as `x-amz-security-token`.
    pub(crate) session_token: Option<String>,
}

// Hand-written so the secret and the session token never reach a log line.
impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Why a request could not be signed (a malformed URL or header; never a credential value).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignError {
    #[error("invalid request to sign: {0}")]
    Request(String),
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Signs one Bedrock request and returns the headers to add to it, lowercase names.
///
/// `url` must be exactly the URL that is sent, already percent-encoded (a model id's `:` as
/// `%3A`, see [`model_url`]); `headers` every header that is sent besides `host` (derived from
/// the URL) and the returned ones, typically `content-type` and `accept`; `body` the exact
/// bytes. The payload hash goes into the signature, not into an `x-amz-content-sha256` header
/// (Bedrock, unlike S3, does not need it). `time` is the signing time (`SystemTime::now()`
/// outside tests); AWS refuses signatures more than 5 minutes off.
pub(crate) fn sign(
    creds: &AwsCredentials,
    region: &str,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let identity: Identity = Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.clone(),
        creds.session_token.clone(),
        None,
        "tollgate-deployment",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError::Request(e.to_string()))?;
    let (instructions, _signature) = aws_sign(request, &params)
        .map_err(|e| SignError::Signing(e.to_string()))?
        .into_parts();
    let (signed, _query) = instructions.into_parts();
    Ok(signed
        .into_iter()
        .map(|h| (h.name().to_ascii_lowercase(), h.value().to_owned()))
        .collect())
}

/// `{endpoint}/model/{modelId}/converse` (or `/converse-stream`), the model id percent-encoded
/// as one path segment (ids and ARNs contain `:` and `/`).
pub(crate) fn model_url(endpoint: &str, model_id: &str, stream: bool) -> String {
    let mut url = String::with_capacity(endpoint.len() + model_id.len() + 32);
    url.push_str(endpoint.trim_end_matches('/'));
    url.push_str("/model/");
    for b in model_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url.push_str(if stream {
        "/converse-stream"
    } else {
        "/converse"
    });
    url
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use hmac::{KeyInit, Mac};
    use sha2::{Digest, Sha256};

    use super::*;

    /// 2015-08-30T12:36:00Z, the date of AWS's SigV4 test suite.
    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn creds(token: Option<&str>) -> AwsCredentials {
        AwsCredentials {
            access_key_id: "AKID".to_owned(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_owned(),
            session_token: token.map(str::to_owned),
        }
    }

    const URL: &str = "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";
    const BODY: &[u8] = br#"{"messages":[{"role":"user","content":[{"text":"Hi"}]}]}"#;

    fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
        h.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn hmac(key: &[u8], data: &str) -> Vec<u8> {
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(data.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn sha256_hex(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    /// The signature by the SigV4 spec, computed here from scratch: canonical request (the
    /// path URI-encoded a second time, as for every service but S3), string to sign, derived key.
    fn expected_signature(signed_headers: &[(&str, &str)], secret: &str) -> String {
        let path = "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse";
        let canonical_headers: String = signed_headers
            .iter()
            .map(|(n, v)| format!("{n}:{v}\n"))
            .collect();
        let names: Vec<&str> = signed_headers.iter().map(|(n, _)| *n).collect();
        let canonical = format!(
            "POST\n{path}\n\n{canonical_headers}\n{}\n{}",
            names.join(";"),
            sha256_hex(BODY)
        );
        let scope = "20150830/us-east-1/bedrock/aws4_request";
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{}",
            sha256_hex(canonical.as_bytes())
        );
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), "20150830");
        let k_region = hmac(&k_date, "us-east-1");
        let k_service = hmac(&k_region, "bedrock");
        let k_signing = hmac(&k_service, "aws4_request");
        hex::encode(hmac(&k_signing, &to_sign))
    }

    #[test]
    fn sigv4_signature_matches_an_independent_computation() {
        let c = creds(None);
        let out = sign(
            &c,
            "us-east-1",
            "POST",
            URL,
            &[("content-type", "application/json")],
            BODY,
            time(),
        )
        .unwrap();
        assert_eq!(header(&out, "x-amz-date"), Some("20150830T123600Z"));
        assert_eq!(header(&out, "x-amz-security-token"), None);
        let auth = header(&out, "authorization").unwrap();
        assert!(
            auth.starts_with(
                "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/bedrock/aws4_request, "
            ),
            "{auth}"
        );
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date, "),
            "{auth}"
        );
        let expected = expected_signature(
            &[
                ("content-type", "application/json"),
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
            ],
            &c.secret_access_key,
        );
        assert!(auth.ends_with(&format!("Signature={expected}")), "{auth}");
    }

    #[test]
    fn sigv4_is_deterministic_and_depends_on_body_and_secret() {
        let headers = [("content-type", "application/json")];
        let a = sign(
            &creds(None),
            "us-east-1",
            "POST",
            URL,
            &headers,
            BODY,
            time(),
        )
        .unwrap();
        let b = sign(
            &creds(None),
            "us-east-1",
            "POST",
            URL,
            &headers,
            BODY,
            time(),
        )
        .unwrap();
        assert_eq!(a, b);
        let other_body = sign(
            &creds(None),
            "us-east-1",
            "POST",
            URL,
            &headers,
            b"{}",
            time(),
        )
        .unwrap();
        assert_ne!(
            header(&a, "authorization"),
            header(&other_body, "authorization")
        );
        let mut other = creds(None);
        other.secret_access_key.push('x');
        let other_secret = sign(&other, "us-east-1", "POST", URL, &headers, BODY, time()).unwrap();
        assert_ne!(
            header(&a, "authorization"),
            header(&other_secret, "authorization")
        );
    }

    #[test]
    fn sigv4_session_token_is_sent_and_signed() {
        let c = creds(Some("session-token-1"));
        let out = sign(
            &c,
            "us-east-1",
            "POST",
            URL,
            &[("content-type", "application/json")],
            BODY,
            time(),
        )
        .unwrap();
        assert_eq!(
            header(&out, "x-amz-security-token"),
            Some("session-token-1")
        );
        let auth = header(&out, "authorization").unwrap();
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "),
            "{auth}"
        );
        let expected = expected_signature(
            &[
                ("content-type", "application/json"),
                ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
                ("x-amz-date", "20150830T123600Z"),
                ("x-amz-security-token", "session-token-1"),
            ],
            &c.secret_access_key,
        );
        assert!(auth.ends_with(&format!("Signature={expected}")), "{auth}");
    }

    #[test]
    fn sigv4_debug_redacts_the_secret_and_errors_do_not_leak_it() {
        let c = creds(Some("tok-secret"));
        let shown = format!("{c:?}");
        assert!(shown.contains("AKID"));
        assert!(!shown.contains("wJalrXUtnFEMI"));
        assert!(!shown.contains("tok-secret"));
        let err = sign(&c, "us-east-1", "POST", "not a url\n", &[], b"", time()).unwrap_err();
        assert!(!err.to_string().contains("wJalrXUtnFEMI"));
    }

    #[test]
    fn sigv4_model_url_encodes_the_model_id_as_one_segment() {
        assert_eq!(
            model_url(
                "https://bedrock-runtime.us-east-1.amazonaws.com/",
                "anthropic.claude-3-haiku-20240307-v1:0",
                false
            ),
            URL
        );
        assert_eq!(
            model_url(
                "http://127.0.0.1:1",
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.x",
                true
            ),
            "http://127.0.0.1:1/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream"
        );
    }
}
