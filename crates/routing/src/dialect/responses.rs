//! Requests from OpenAI Responses API clients (`POST /v1/responses`: the Codex CLI, the Agents
//! SDK). A provider that serves the Responses API itself (`responses = true`) gets the client's
//! bytes with only `model` swapped, so everything the API has and chat lacks (stored responses,
//! built-in tools, encrypted reasoning) keeps working. Every other deployment is reached through
//! the chat pivot: the request becomes an OpenAI chat request, which then takes the very path
//! an OpenAI chat client's request takes to that provider kind, so each chat translation fix
//! serves Responses clients too. (The answers come back through `codec::responses`.)

use std::sync::Arc;

use tollgate_formats::responses::{self, ResponsesRequest};
use tollgate_formats::translate;
use tollgate_formats::{FormatError, openai};

use super::pivot::through_chat;
use super::{Prepared, prepared};
use crate::mode::{Mode, ResponsesReq};
use crate::route_table::Deployment;

/// The request for `dep`, from a Responses body.
pub(super) fn request(
    dep: &Deployment,
    body: &[u8],
    stream: bool,
) -> Result<Prepared, FormatError> {
    if dep.provider.responses {
        return Ok(prepared(
            openai::rewrite_chat_request(body, &dep.upstream_model, false)?,
            Mode::OpenAiResponses,
        ));
    }
    let req: ResponsesRequest = translate::from_json(body)?;
    if req.previous_response_id.is_some() {
        // The edge splices the stored turn into `input` and takes the id out before routing
        // sees the body; one still carrying it was not resolved, and answering without the
        // earlier turns would answer another question.
        return Err(FormatError::InvalidValue {
            param: "previous_response_id",
            reason: "the stored conversation was not resolved; send the earlier items in `input` instead.",
        });
    }
    let req = Arc::new(req);
    let t = responses::responses_to_chat_request((*req).clone(), &[])?;
    through_chat(dep, t.value, t.warnings, stream, |inner| {
        Mode::ResponsesFromChat {
            inner,
            req: ResponsesReq(req),
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
name = "native"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
responses = true

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

[[models]]
name = "m"
deployments = [{ provider = "native", model = "up" }, { provider = "chat", model = "up" }, { provider = "quiet", model = "up" }, { provider = "an", model = "up" }, { provider = "ge", model = "up" }]
price = { input = "1", output = "1" }
"#,
        )
        .unwrap();
        RouteTable::from_config(&cfg).unwrap()
    }

    fn body(extra: Value) -> Vec<u8> {
        let mut v = json!({"model": "m", "instructions": "be brief", "input": "hello responses", "store": false});
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        serde_json::to_vec(&v).unwrap()
    }

    fn on(t: &RouteTable, provider: &str, body: &[u8], stream: bool) -> Prepared {
        let m = t.get("m").unwrap();
        let dep = m
            .deployments
            .iter()
            .find(|d| d.provider.name == provider)
            .unwrap();
        translate_request(WireFormat::OpenaiResponses, dep, body, stream).unwrap()
    }

    #[test]
    fn a_native_deployment_gets_the_clients_bytes_with_only_model_swapped() {
        let t = table();
        let m = t.get("m").unwrap();
        assert_eq!(
            m.deployments[0].urls.responses,
            "http://127.0.0.1:1/v1/responses"
        );
        assert_eq!(m.deployments[1].urls.responses, "", "not served natively");
        let raw = body(
            json!({"previous_response_id": "resp_abc", "tools": [{"type": "web_search"}], "zzz": 1.50}),
        );
        let p = on(&t, "native", &raw, true);
        assert_eq!(p.mode, Mode::OpenAiResponses);
        assert_eq!(
            std::str::from_utf8(&p.body).unwrap(),
            std::str::from_utf8(&raw)
                .unwrap()
                .replace(r#""model":"m""#, r#""model":"up""#)
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn a_chat_deployment_gets_a_chat_request_that_asks_for_stream_usage() {
        let t = table();
        let p = on(
            &t,
            "chat",
            &body(json!({"stream": true, "max_output_tokens": 77})),
            true,
        );
        let Mode::ResponsesFromChat { inner, req } = &p.mode else {
            panic!("{:?}", p.mode);
        };
        assert_eq!(**inner, Mode::OpenAi);
        assert_eq!(
            req.0.model, "m",
            "the client's request is kept for the answer"
        );
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["model"], "up");
        assert_eq!(
            v["messages"][0],
            json!({"role": "system", "content": "be brief"})
        );
        assert_eq!(
            v["messages"][1],
            json!({"role": "user", "content": "hello responses"})
        );
        assert_eq!(v["max_completion_tokens"], 77);
        assert_eq!(v["stream"], true);
        assert_eq!(v["stream_options"]["include_usage"], true);
        assert!(v.get("store").is_none() && v.get("input").is_none());

        // A provider that refuses `stream_options` is not sent it.
        let p = on(&t, "quiet", &body(json!({"stream": true})), true);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["stream"], true);
        assert!(v.get("stream_options").is_none(), "{v}");

        // Not streamed: no stream fields at all.
        let p = on(&t, "chat", &body(json!({})), false);
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert!(
            v.get("stream").is_none() && v.get("stream_options").is_none(),
            "{v}"
        );
    }

    #[test]
    fn other_kinds_take_their_chat_path_inside_the_responses_mode() {
        let t = table();
        let p = on(&t, "an", &body(json!({"stream": true})), true);
        assert!(
            matches!(&p.mode, Mode::ResponsesFromChat { inner, .. } if matches!(**inner, Mode::OpenAiFromAnthropic { include_usage: true, .. })),
            "{:?}",
            p.mode
        );
        let v: Value = serde_json::from_slice(&p.body).unwrap();
        assert_eq!(v["system"], "be brief");
        assert!(v["max_tokens"].as_u64().unwrap() > 0);

        let p = on(&t, "ge", &body(json!({})), false);
        assert!(
            matches!(&p.mode, Mode::ResponsesFromChat { inner, .. } if matches!(**inner, Mode::Native { kind: NativeKind::Gemini, anthropic_client: false, .. })),
            "{:?}",
            p.mode
        );
        assert!(String::from_utf8_lossy(&p.body).contains("hello responses"));
    }

    #[test]
    fn what_chat_cannot_answer_is_the_clients_400_and_losses_are_counted() {
        let t = table();
        let m = t.get("m").unwrap();
        let chat = &m.deployments[1];
        let refused = |extra: Value| {
            translate_request(WireFormat::OpenaiResponses, chat, &body(extra), false)
                .err()
                .map(|e| e.to_string())
        };
        let e = refused(json!({"previous_response_id": "resp_1"})).unwrap();
        assert!(e.contains("previous_response_id"), "{e}");
        let e = refused(json!({"tools": [{"type": "web_search"}]})).unwrap();
        assert!(e.contains("web_search"), "{e}");
        assert!(refused(json!({"background": true})).is_some());
        assert!(translate_request(WireFormat::OpenaiResponses, chat, b"[1]", false).is_err());

        let p = on(
            &t,
            "chat",
            &body(json!({"include": ["reasoning.encrypted_content"]})),
            false,
        );
        assert!(
            p.warnings.iter().any(|w| w.field == "include[0]"),
            "{:?}",
            p.warnings
        );
    }
}
