//! The request side of translation: per (client wire format, provider kind), how the client's
//! body is made ready for the deployment, and the [`Mode`] its answer will come back in (the
//! answer side is `codec`). Gemini and Bedrock requests are built in `native.rs`.
//!
//! Same format on both sides, the client's bytes pass through with only `model` swapped (so
//! `cache_control`, `thinking` and fields we do not know survive byte for byte). Across formats
//! the body is translated by `tollgate_formats::translate`; what a translation cannot carry is
//! counted (`mode::dropped`). Responses API requests are made ready in `responses.rs` (passed
//! through, or turned into a chat request that then takes the chat path below); legacy Completions
//! requests in `completions.rs` (always turned into a chat request).

use bytes::Bytes;
use tollgate_config::ProviderKind;
use tollgate_formats::anthropic::MessagesRequest;
use tollgate_formats::translate::{self, ChatRequest, Warning};
use tollgate_formats::{FormatError, openai};
use tollgate_proto::routing::v1::WireFormat;

use crate::mode::{Mode, anthropic_client, dropped, to_json};
use crate::route_table::Deployment;

mod completions;
pub(crate) mod endpoints;
mod native;
mod pivot;
mod responses;

/// The body to send to `dep` and how to relay its answer; what the translation dropped is
/// counted. `content_type`: the client's, for a body that is not JSON (a multipart upload).
pub(crate) fn request(
    format: WireFormat,
    dep: &Deployment,
    body: &[u8],
    stream: bool,
    content_type: &str,
) -> Result<(Bytes, Mode), FormatError> {
    if let Some(e) = crate::mode::endpoint(format) {
        let p = endpoints::request(e, dep, body, content_type)?;
        return Ok((p.body, p.mode));
    }
    let t = translate_request(format, dep, body, stream)?;
    dropped(&t.warnings);
    Ok((t.body, t.mode))
}

/// A request made ready for one deployment.
pub(crate) struct Prepared {
    pub body: Bytes,
    pub mode: Mode,
    /// What the translation could not carry (empty on passthrough).
    pub warnings: Vec<Warning>,
}

fn prepared(body: Bytes, mode: Mode) -> Prepared {
    Prepared {
        body,
        mode,
        warnings: Vec::new(),
    }
}

/// The dispatch itself, without side effects (the support matrix test reads it).
pub(crate) fn translate_request(
    format: WireFormat,
    dep: &Deployment,
    body: &[u8],
    stream: bool,
) -> Result<Prepared, FormatError> {
    let upstream = dep.upstream_model.as_str();
    if format == WireFormat::OpenaiResponses {
        return responses::request(dep, body, stream);
    }
    if format == WireFormat::OpenaiCompletions {
        return completions::request(dep, body, stream);
    }
    if format == WireFormat::OpenaiEmbeddings {
        return match dep.provider.kind {
            ProviderKind::Openai => Ok(prepared(
                openai::rewrite_chat_request(body, upstream, false)?,
                Mode::OpenAi,
            )),
            ProviderKind::Gemini => native::embeddings_request(dep, body),
            _ => Err(FormatError::InvalidValue {
                param: "model",
                reason: "this model's provider does not serve embeddings",
            }),
        };
    }
    match (anthropic_client(format), dep.provider.kind) {
        (false, ProviderKind::Openai) => Ok(prepared(
            openai::rewrite_chat_request(body, upstream, stream && dep.provider.stream_usage)?,
            Mode::OpenAi,
        )),
        // The splice only touches `model`; it does not care which format the body is in.
        (true, ProviderKind::Anthropic) => Ok(prepared(
            openai::rewrite_chat_request(body, upstream, false)?,
            Mode::Anthropic,
        )),
        (false, ProviderKind::Anthropic) => {
            let req: ChatRequest = translate::from_json(body)?;
            let t = translate::openai_to_anthropic_request(req, upstream)?;
            Ok(Prepared {
                body: to_json(&t.request)?,
                mode: Mode::OpenAiFromAnthropic {
                    json_tool: t.json_tool,
                    include_usage: t.include_usage,
                },
                warnings: t.warnings,
            })
        }
        (true, ProviderKind::Openai) => {
            let req: MessagesRequest = translate::from_json(body)?;
            let mut t = translate::anthropic_to_openai_request(req, upstream)?;
            let stripped = translate::strip_cache_control(
                &mut t.request,
                "OpenAI-compatible providers cache prompts on their own",
            );
            t.warnings.extend(stripped);
            Ok(Prepared {
                body: to_json(&t.request)?,
                mode: Mode::AnthropicFromOpenAi,
                warnings: t.warnings,
            })
        }
        (client, ProviderKind::Gemini | ProviderKind::Bedrock) => {
            native::request(client, dep, body)
        }
    }
}

#[cfg(test)]
mod tests {
    use tollgate_config::Config;

    use super::*;
    use crate::route_table::RouteTable;

    fn table() -> RouteTable {
        let cfg = Config::from_toml(
            r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[providers]]
name = "an"
kind = "anthropic"
base_url = "http://127.0.0.1:1/v1/"
api_key = "sk-ant-test"

[[models]]
name = "m"
deployments = [{ provider = "oa", model = "oa-1" }, { provider = "an", model = "an-1" }]
price = { input = "1", output = "2" }
"#,
        )
        .unwrap();
        RouteTable::from_config(&cfg).unwrap()
    }

    #[test]
    fn each_pairing_gets_its_body_and_mode() {
        let c = table();
        let m = c.get("m").unwrap();
        let (oa, an) = (&m.deployments[0], &m.deployments[1]);
        assert_eq!(an.urls.chat, "http://127.0.0.1:1/v1/messages");
        assert_eq!(an.provider.auth_header, "x-api-key");
        assert_eq!(an.keys[0].auth, "sk-ant-test");
        assert!(an.keys[0].auth.is_sensitive());
        assert_eq!(an.provider.headers["anthropic-version"], "2023-06-01");

        // Anthropic to Anthropic: every byte but the model's.
        let body = br#"{"model":"m", "max_tokens":9,"system":[{"type":"text","text":"x","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}],"zzz":1.50}"#;
        let (out, mode) = request(WireFormat::AnthropicMessages, an, body, false, "").unwrap();
        assert_eq!(mode, Mode::Anthropic);
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            std::str::from_utf8(body)
                .unwrap()
                .replace(r#""m""#, r#""an-1""#)
        );

        // Anthropic to OpenAI: a chat request.
        let (out, mode) = request(WireFormat::AnthropicMessages, oa, body, true, "").unwrap();
        assert_eq!(mode, Mode::AnthropicFromOpenAi);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "oa-1");
        assert_eq!(v["messages"][0]["role"], "system");

        // OpenAI to Anthropic: a Messages request with max_tokens filled in.
        let chat = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;
        let (out, mode) = request(WireFormat::OpenaiChat, an, chat, true, "").unwrap();
        assert!(matches!(
            mode,
            Mode::OpenAiFromAnthropic {
                include_usage: true,
                ..
            }
        ));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "an-1");
        assert!(v["max_tokens"].as_u64().unwrap() > 0);

        // OpenAI to OpenAI: as before.
        let (_, mode) = request(WireFormat::OpenaiChat, oa, chat, true, "").unwrap();
        assert_eq!(mode, Mode::OpenAi);

        // What cannot be translated is the client's 400.
        let n2 = br#"{"model":"m","n":2,"messages":[{"role":"user","content":"hi"}]}"#;
        assert!(request(WireFormat::OpenaiChat, an, n2, false, "").is_err());
    }
}
