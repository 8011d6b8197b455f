//! Requests from OpenAI legacy Completions clients (`POST /v1/completions`). No provider kind
//! serves that API for chat models, so every deployment is reached through the chat pivot: the
//! request becomes an OpenAI chat request (`tollgate_formats::completions`), which then takes
//! the very path an OpenAI chat client's request takes to that provider kind. (The answers come
//! back through `codec::completions`.)

use tollgate_formats::FormatError;
use tollgate_formats::completions::{self, CompletionRequest};
use tollgate_formats::translate;

use super::Prepared;
use super::pivot::through_chat;
use crate::mode::Mode;
use crate::route_table::Deployment;

/// The request for `dep`, from a Completions body.
pub(super) fn request(
    dep: &Deployment,
    body: &[u8],
    stream: bool,
) -> Result<Prepared, FormatError> {
    let req: CompletionRequest = translate::from_json(body)?;
    let include_usage = stream
        && req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false);
    let t = completions::completions_to_chat_request(req)?;
    through_chat(dep, t.value, t.warnings, stream, |inner| {
        Mode::CompletionsFromChat {
            inner,
            include_usage,
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tollgate_config::Config;

    use super::*;
    use crate::dialect::translate_request;
    use crate::mode::NativeKind;
    use crate::route_table::RouteTable;
    use tollgate_proto::routing::v1::WireFormat;

    fn table() -> RouteTable {
        let cfg = Config::from_toml(
            r#"
[[providers]]
name = "chat"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[providers]]
name = "quiet"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
stream_usage = false

[[providers]]
name = "an"
preset = "anthropic"
base_url = "http://127.0.0.1:1/v1"

[[providers]]
name = "ge"
preset = "gemini"
base_url = "http://127.0.0.1:1/v1beta"

[[providers]]
name = "br"
preset = "bedrock"
base_url = "http://127.0.0.1:1"
region = "us-east-1"
aws_access_key_id = "AKID"
aws_secret_access_key = "secret"

[[models]]
name = "m"
deployments = [{ provider = "chat", model = "up" }, { provider = "quiet", model = "up" }, { provider = "an", model = "up" }, { provider = "ge", model = "up" }, { provider = "br", model = "anthropic.claude-up" }]
price = { input = "1", output = "1" }
"#,
        )
        .unwrap();
        RouteTable::from_config(&cfg).unwrap()
    }

    fn body(extra: Value) -> Vec<u8> {
        let mut v = json!({"model": "m", "prompt": "Say this is a test"});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn on(
        t: &RouteTable,
        provider: &str,
        body: &[u8],
        stream: bool,
    ) -> Result<Prepared, FormatError> {
        let m = t.get("m").unwrap();
        let dep = m
            .deployments
            .iter()
            .find(|d| d.provider.name == provider)
            .unwrap();
        translate_request(WireFormat::OpenaiCompletions, dep, body, stream)
    }

    #[test]
    fn an_openai_deployment_gets_a_chat_request_asking_for_usage() {
        let t = table();
        let p = on(&t, "chat", &body(json!({"stream": true})), true).unwrap();
        assert_eq!(
            p.mode,
            Mode::CompletionsFromChat {
                inner: Box::new(Mode::OpenAi),
                include_usage: false
            }
        );
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["model"], "up");
        assert_eq!(
            v["messages"],
            json!([{"role": "user", "content": "Say this is a test"}])
        );
        assert_eq!(v["max_completion_tokens"], 16);
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert!(v.get("prompt").is_none());

        // A provider that refuses the option is not sent it; the client's wish is kept.
        let p = on(
            &t,
            "quiet",
            &body(json!({"stream": true, "stream_options": {"include_usage": true}})),
            true,
        )
        .unwrap();
        assert!(matches!(
            p.mode,
            Mode::CompletionsFromChat {
                include_usage: true,
                ..
            }
        ));
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(v.get("stream_options").is_none());
    }

    #[test]
    fn every_other_kind_takes_its_chat_path() {
        let t = table();
        let p = on(&t, "an", &body(json!({"max_tokens": 50})), false).unwrap();
        assert!(
            matches!(&p.mode, Mode::CompletionsFromChat { inner, .. } if matches!(**inner, Mode::OpenAiFromAnthropic { .. }))
        );
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["max_tokens"], 50);
        assert_eq!(v["messages"][0]["role"], "user");
        for (provider, kind) in [("ge", NativeKind::Gemini), ("br", NativeKind::Bedrock)] {
            let p = on(&t, provider, &body(json!({})), true).unwrap();
            assert!(
                matches!(&p.mode, Mode::CompletionsFromChat { inner, .. } if matches!(**inner, Mode::Native { kind: k, anthropic_client: false, .. } if k == kind)),
                "{provider}: {:?}",
                p.mode
            );
        }
    }

    #[test]
    fn what_chat_cannot_do_is_refused_for_every_kind() {
        let t = table();
        for provider in ["chat", "an", "ge", "br"] {
            let e = on(&t, provider, &body(json!({"echo": true})), false)
                .err()
                .unwrap();
            assert_eq!(e.param(), Some("echo"));
            let e = on(&t, provider, &body(json!({"prompt": ["a", "b"]})), false)
                .err()
                .unwrap();
            assert_eq!(e.param(), Some("prompt"));
        }
        assert!(on(&t, "chat", b"[1]", false).is_err());
    }
}
