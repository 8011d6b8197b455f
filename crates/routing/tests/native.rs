//! Providers with their own wire format, through routing against the mock provider speaking
//! them (Gemini `generateContent` with SSE streams, Bedrock Converse with AWS event-stream
//! frames and SigV4), plus Azure OpenAI's deployment URLs: answers reach OpenAI and Anthropic
//! clients in their own format, usage equals what the mock served, errors keep their meaning.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use tollgate_mock_provider::{MockOptions, MockServer};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{FailureKind, Outcome, WireFormat};

use support::*;

/// Gemini at `{mock}/v1beta`, Bedrock at `{mock}` (SigV4 with the mock's key as access key id),
/// Azure at `{mock}` with its preset; a model per provider.
fn config(m: &MockServer) -> String {
    let root = format!("http://{}", m.addr());
    format!(
        r#"
[[providers]]
name = "gem"
preset = "gemini"
base_url = "{root}/v1beta"
api_key = "{PROVIDER_KEY}"

[[providers]]
name = "aws"
preset = "bedrock"
base_url = "{root}"
region = "us-east-1"
aws_access_key_id = "{PROVIDER_KEY}"
aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

[[providers]]
name = "az"
preset = "azure"
base_url = "{root}"
api_key = "{PROVIDER_KEY}"

[[models]]
name = "gemini"
deployments = [{{ provider = "gem", model = "gemini-2.5-flash" }}]
price = {{ input = "1", output = "2" }}

[[models]]
name = "bedrock"
deployments = [{{ provider = "aws", model = "anthropic.claude-3-5-sonnet-20240620-v1:0" }}]
price = {{ input = "1", output = "2" }}

[[models]]
name = "azure"
deployments = [{{ provider = "az", model = "gpt4o-prod" }}]
price = {{ input = "1", output = "2" }}

[[models]]
name = "gemini-embed"
deployments = [{{ provider = "gem", model = "text-embedding-004" }}]
price = {{ input = "0.1", output = "0" }}
"#
    )
}

async fn setup(o: MockOptions) -> (MockServer, Routing) {
    let m = mock(o).await;
    let r = start(&config(&m)).await;
    (m, r)
}

fn anthropic_call(model: &str, stream: bool) -> tollgate_proto::routing::v1::ChatCall {
    let mut c = call(model, stream, false);
    c.format = WireFormat::AnthropicMessages as i32;
    c.body = json!({
        "model": model,
        "max_tokens": 64,
        "stream": stream,
        "system": "be brief",
        "messages": [{"role": "user", "content": "hello there"}]
    })
    .to_string()
    .into_bytes()
    .into();
    c
}

/// `(event name, data)` of an Anthropic SSE text.
fn anthropic_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap();
                }
            }
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn openai_clients_get_chat_completions_from_gemini_and_bedrock_with_exact_usage() {
    for model in ["gemini", "bedrock"] {
        let (m, mut r) = setup(opts()).await;
        let f = frames(&mut r, call(model, false, false)).await;
        let body: Value = serde_json::from_str(&data(&f)).unwrap();
        assert_eq!(body["object"], "chat.completion", "{model}: {body}");
        assert_eq!(body["model"], model);
        assert!(
            body["choices"][0]["message"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{model}: {body}"
        );
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        let u = usage(&f);
        let s = m.stats();
        assert!(u.reported_by_provider, "{model}");
        assert_eq!(u.outcome, Outcome::Completed as i32);
        assert_eq!(
            (u.input_tokens, u.output_tokens),
            (s.prompt_tokens, s.completion_tokens),
            "{model}: billed what the provider served"
        );
        assert_eq!(body["usage"]["prompt_tokens"], u.input_tokens);
        assert_eq!(body["usage"]["completion_tokens"], u.output_tokens);
    }
}

#[tokio::test]
async fn streams_from_gemini_sse_and_bedrock_event_stream_become_openai_chunks() {
    for model in ["gemini", "bedrock"] {
        let (m, mut r) = setup(opts()).await;
        let f = frames(&mut r, call(model, true, true)).await;
        let text = data(&f);
        assert!(text.ends_with("data: [DONE]\n\n"), "{model}: {text}");
        let chunks = events(&text);
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert!(!content.is_empty(), "{model}: {text}");
        assert!(chunks.iter().all(|c| c["model"] == model));
        let finish: Vec<_> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, ["stop"], "{model}");
        let usage_chunk = chunks.last().unwrap();
        assert_eq!(usage_chunk["choices"], json!([]), "{model}: {usage_chunk}");
        let u = usage(&f);
        let s = m.stats();
        assert!(u.reported_by_provider);
        assert_eq!(
            (u.input_tokens, u.output_tokens),
            (s.prompt_tokens, s.completion_tokens),
            "{model}"
        );
        assert_eq!(usage_chunk["usage"]["prompt_tokens"], u.input_tokens);

        // Without include_usage the client sees no usage chunk, yet the usage is still known.
        let f = frames(&mut r, call(model, true, false)).await;
        let chunks = events(&data(&f));
        assert!(
            chunks
                .iter()
                .all(|c| c.get("usage").is_none_or(Value::is_null))
        );
        assert!(usage(&f).reported_by_provider, "{model}");
    }
}

#[tokio::test]
async fn anthropic_clients_reach_gemini_and_bedrock_through_the_openai_pivot() {
    for model in ["gemini", "bedrock"] {
        let (m, mut r) = setup(opts()).await;
        let f = frames(&mut r, anthropic_call(model, false)).await;
        let body: Value = serde_json::from_str(&data(&f)).unwrap();
        assert_eq!(body["type"], "message", "{model}: {body}");
        assert_eq!(body["model"], model);
        assert_eq!(body["stop_reason"], "end_turn");
        assert!(
            body["content"][0]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        let u = usage(&f);
        assert_eq!(body["usage"]["output_tokens"], u.output_tokens);

        let f = frames(&mut r, anthropic_call(model, true)).await;
        let evs = anthropic_events(&data(&f));
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.first(), Some(&"message_start"), "{model}: {names:?}");
        assert_eq!(
            names.last(),
            Some(&"message_stop"),
            "{model}: {names:?} {:?}",
            evs.last()
        );
        assert!(names.contains(&"content_block_delta"));
        let delta = evs.iter().find(|(n, _)| n == "message_delta").unwrap();
        let u = usage(&f);
        assert_eq!(delta.1["usage"]["output_tokens"], u.output_tokens);
        let s = m.stats();
        assert_eq!(s.completion_tokens, 2 * u.output_tokens, "{model}");
    }
}

#[tokio::test]
async fn parallel_tool_calls_keep_their_indexes_in_translated_streams() {
    for model in ["gemini", "bedrock"] {
        let (_m, mut r) = setup(opts()).await;
        let body = json!({
            "model": model,
            "stream": true,
            "messages": [{"role": "user", "content": "weather and time in Rome, use all the tools"}],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}},
                {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
            ]
        });
        let f = frames(
            &mut r,
            with_body(call(model, true, false), &body.to_string()),
        )
        .await;
        let chunks = events(&data(&f));
        let mut names = std::collections::BTreeMap::new();
        let mut args: std::collections::BTreeMap<u64, String> = Default::default();
        for c in &chunks {
            for tc in c["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let i = tc["index"].as_u64().unwrap();
                if let Some(n) = tc["function"]["name"].as_str() {
                    names.insert(i, n.to_owned());
                }
                if let Some(a) = tc["function"]["arguments"].as_str() {
                    args.entry(i).or_default().push_str(a);
                }
            }
        }
        assert_eq!(
            names.values().cloned().collect::<Vec<_>>(),
            ["get_weather", "get_time"],
            "{model}: two parallel calls in {}",
            data(&f)
        );
        for (i, a) in &args {
            let parsed: Value = serde_json::from_str(a)
                .unwrap_or_else(|e| panic!("{model}: call {i} arguments {a:?}: {e}"));
            assert!(parsed.is_object());
        }
        let finish: Vec<_> = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
            .collect();
        assert_eq!(finish, ["tool_calls"], "{model}");
        assert_eq!(
            names.keys().copied().collect::<Vec<_>>(),
            (0..names.len() as u64).collect::<Vec<_>>(),
            "{model}: indexes are 0..n, one per call"
        );
    }
}

#[tokio::test]
async fn provider_errors_keep_their_meaning_in_every_format() {
    // Context length: Gemini's and Bedrock's own wording becomes context_length_exceeded.
    let o = MockOptions {
        context_window: Some(2),
        ..opts()
    };
    for model in ["gemini", "bedrock", "azure"] {
        let (_m, mut r) = setup(o.clone()).await;
        let f = frames(&mut r, call(model, false, false)).await;
        let fail = failure(&f);
        assert_eq!(
            fail.kind,
            FailureKind::ContextLengthExceeded as i32,
            "{model}: {fail:?}"
        );
        assert_eq!(fail.upstream_status, 400);
    }
    // Rate limits: 429 with the provider's Retry-After.
    for model in ["gemini", "bedrock"] {
        let (_m, mut r) = setup(failing(429)).await;
        let f = frames(&mut r, call(model, false, false)).await;
        let fail = failure(&f);
        assert_eq!(
            fail.kind,
            FailureKind::UpstreamRateLimited as i32,
            "{model}"
        );
        assert!(fail.retry_after_ms >= 1_000, "{model}: {fail:?}");
    }
    // A wrong key at the provider is the gateway's problem, never shown to the client.
    let (m, mut r) = setup(opts()).await;
    m.set_options(MockOptions {
        api_key: Some("another-key".into()),
        ..opts()
    });
    for model in ["gemini", "bedrock", "azure"] {
        let f = frames(&mut r, call(model, false, false)).await;
        let fail = failure(&f);
        assert_eq!(
            fail.kind,
            FailureKind::UpstreamError as i32,
            "{model}: {fail:?}"
        );
        assert!(!fail.message.contains(PROVIDER_KEY));
    }
}

#[tokio::test]
async fn azure_deployments_are_called_at_their_url_with_api_key_and_version() {
    let (m, mut r) = setup(opts()).await;
    for stream in [false, true] {
        let f = frames(&mut r, call("azure", stream, stream)).await;
        assert_eq!(usage(&f).outcome, Outcome::Completed as i32, "{f:?}");
        assert!(usage(&f).reported_by_provider);
    }
    assert_eq!(m.stats().chat_requests, 2);
}

#[tokio::test]
async fn embeddings_reach_openai_compatible_and_gemini_deployments() {
    let m = mock(opts()).await;
    let toml = provider("oa", &m.base_url(), true)
        + &model("embed", &[], &[("oa", "mock-embed", 1)])
        + &config(&m);
    let mut r = start(&toml).await;
    let embed = |model: &str| {
        let mut c = call(model, false, false);
        c.format = WireFormat::OpenaiEmbeddings as i32;
        c.body = json!({"model": model, "input": ["first text", "second text here"]})
            .to_string()
            .into_bytes()
            .into();
        c
    };
    for model in ["embed", "gemini-embed"] {
        let f = frames(&mut r, embed(model)).await;
        let body: Value = serde_json::from_str(&data(&f)).unwrap();
        assert_eq!(body["object"], "list", "{model}: {body}");
        assert_eq!(body["data"].as_array().unwrap().len(), 2, "{model}");
        assert!(
            body["data"][1]["embedding"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
        );
        assert_eq!(body["model"], model);
        let u = usage(&f);
        assert!(u.input_tokens > 0, "{model}");
        assert_eq!(u.output_tokens, 0);
        assert_eq!(body["usage"]["prompt_tokens"], u.input_tokens, "{model}");
        // OpenAI-compatible providers count embedding tokens; Gemini's batch API does not.
        assert_eq!(u.reported_by_provider, model == "embed", "{model}");
    }
    // A chat model's provider that cannot embed is a clear 400, not a provider call.
    let f = frames(&mut r, embed("bedrock")).await;
    assert_eq!(failure(&f).kind, FailureKind::InvalidRequest as i32);
    assert!(
        !f.iter().any(|k| matches!(k, Kind::Data(_))),
        "nothing reached the client"
    );
}

#[tokio::test]
async fn a_native_stream_cut_mid_way_ends_with_an_error_event_and_billed_output() {
    for model in ["gemini", "bedrock"] {
        let o = MockOptions {
            chunks: 6,
            disconnect_after: Some(2),
            ..opts()
        };
        let (m, mut r) = setup(o).await;
        let f = frames(&mut r, call(model, true, true)).await;
        let text = data(&f);
        assert!(!text.contains("[DONE]"), "{model}: {text}");
        let last = text.trim_end().rsplit("\n\n").next().unwrap();
        assert!(
            last.contains("\"error\""),
            "{model}: ends with an error event: {text}"
        );
        let u = usage(&f);
        assert_eq!(u.outcome, Outcome::Failed as i32, "{model}");
        assert_eq!(
            u.output_tokens,
            m.stats().completion_tokens,
            "{model}: what was delivered"
        );
        assert!(u.output_tokens > 0);
    }
}

#[tokio::test]
async fn anthropic_cache_control_reaches_bedrock_as_a_cache_point() {
    let (m, mut r) = setup(opts()).await;
    let cached = |stream: bool| {
        let mut c = anthropic_call("bedrock", stream);
        c.body = json!({
            "model": "bedrock",
            "max_tokens": 64,
            "stream": stream,
            "system": [{"type": "text", "text": "a long and stable reference document to cache", "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "hello there"}]
        })
        .to_string()
        .into_bytes()
        .into();
        c
    };
    let first = usage(&frames(&mut r, cached(false)).await);
    assert!(first.cache_write_tokens > 0, "{first:?}");
    let second = usage(&frames(&mut r, cached(true)).await);
    assert!(second.cached_input_tokens > 0, "{second:?}");
    assert_eq!(second.cached_input_tokens, first.cache_write_tokens);
    assert_eq!(m.stats().cache_read_tokens, second.cached_input_tokens);
}
