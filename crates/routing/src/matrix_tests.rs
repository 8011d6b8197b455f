//! The support matrix in `docs/support-matrix.md`, produced by this test from the dispatch the
//! gateway really runs (`dialect::translate_request`): each request feature, sent by each
//! client format to each provider kind, is classified as
//!
//! - **passthrough**: the client's bytes go to the provider with only `model` changed;
//! - **translated**: the feature's value is present in the provider's request;
//! - **dropped**: the request is served without the feature, and a warning is counted in
//!   `tollgate_translation_dropped_total{field}`;
//! - **rejected**: the client gets a 400 naming the parameter (the feature cannot be expressed).
//!
//! The checked-in file must equal what this test produces, so a behaviour change cannot land
//! without the documentation changing with it. Regenerate with
//! `TOLLGATE_BLESS=1 cargo test -p tollgate-routing support_matrix`.

use std::fmt::Write as _;

use serde_json::{Value, json};
use tollgate_config::Config;
use tollgate_proto::routing::v1::WireFormat;

use crate::dialect::translate_request;
use crate::mode::Mode;
use crate::route_table::RouteTable;

const PROVIDERS: &[(&str, &str)] = &[
    ("oa", "OpenAI-compatible¹"),
    ("an", "Anthropic"),
    ("ge", "Gemini"),
    ("br", "Bedrock Converse"),
];

/// Responses clients also meet deployments that serve the Responses API themselves.
const RESPONSES_PROVIDERS: &[(&str, &str)] = &[
    ("or", "OpenAI, `responses = true`³"),
    ("oa", "OpenAI-compatible¹"),
    ("an", "Anthropic"),
    ("ge", "Gemini"),
    ("br", "Bedrock Converse"),
];

fn route_table() -> RouteTable {
    let cfg = Config::from_toml(
        r#"
[[providers]]
name = "oa"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"

[[providers]]
name = "or"
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
responses = true

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
deployments = [{ provider = "oa", model = "up" }, { provider = "or", model = "up" }, { provider = "an", model = "up" }, { provider = "ge", model = "up" }, { provider = "br", model = "anthropic.claude-up" }]
price = { input = "1", output = "1" }
"#,
    )
    .unwrap();
    RouteTable::from_config(&cfg).unwrap()
}

/// One row: a feature, the request that uses it, and the value that must reach the provider
/// for it to count as translated.
struct Feature {
    name: &'static str,
    format: WireFormat,
    stream: bool,
    body: Value,
    /// Any of these in the provider's request body means the feature was carried.
    needles: &'static [&'static str],
}

fn chat(extra: Value) -> Value {
    let mut v = json!({"model": "m", "messages": [{"role": "user", "content": "hello matrix"}]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

fn messages(extra: Value) -> Value {
    let mut v = json!({"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "hello matrix"}]});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn weather_tool() -> Value {
    json!({"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}})
}

fn openai_features() -> Vec<Feature> {
    let f = |name, body, needles| Feature {
        name,
        format: WireFormat::OpenaiChat,
        stream: false,
        body,
        needles,
    };
    vec![
        f("text message", chat(json!({})), &["hello matrix"]),
        f(
            "system prompt",
            chat(
                json!({"messages": [{"role": "system", "content": "you are a matrix bot"}, {"role": "user", "content": "hi"}]}),
            ),
            &["you are a matrix bot"],
        ),
        f(
            "image (data URL)",
            chat(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"}, {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}]}]}),
            ),
            &["iVBORw0KGgo"],
        ),
        f(
            "image (https URL)",
            chat(
                json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "what is it"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
            ),
            &["https://example.com/cat.png"],
        ),
        f(
            "audio input part",
            chat(
                json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "UklGRiQAAABXQVZF", "format": "wav"}}]}]}),
            ),
            &["UklGRiQAAABXQVZF"],
        ),
        f(
            "tools",
            chat(json!({"tools": [weather_tool()]})),
            &["get_weather"],
        ),
        f(
            "tool_choice (named function)",
            chat(
                json!({"tools": [weather_tool()], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
            ),
            &[
                "\"tool\":{\"name\":\"get_weather\"",
                "\"name\":\"get_weather\",\"type\":\"tool\"",
                "\"type\":\"tool\",\"name\":\"get_weather\"",
                "allowedFunctionNames",
                "\"function\":{\"name\":\"get_weather\"",
            ],
        ),
        f(
            "parallel tool calls and results in history",
            chat(json!({"tools": [weather_tool()], "messages": [
                {"role": "user", "content": "weather in two cities"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
                {"role": "tool", "tool_call_id": "call_a", "content": "sunny-in-paris"},
                {"role": "tool", "tool_call_id": "call_b", "content": "rainy-in-rome"}]})),
            &["rainy-in-rome"],
        ),
        f(
            "response_format json_object",
            chat(json!({"response_format": {"type": "json_object"}})),
            &["application/json", "json_response"],
        ),
        f(
            "response_format json_schema",
            chat(
                json!({"response_format": {"type": "json_schema", "json_schema": {"name": "weather_report", "schema": {"type": "object", "properties": {"temperature_c": {"type": "number"}}}}}}),
            ),
            &["temperature_c"],
        ),
        f(
            "stop sequences",
            chat(json!({"stop": ["STOPHERE"]})),
            &["STOPHERE"],
        ),
        f(
            "max_completion_tokens",
            chat(json!({"max_completion_tokens": 777})),
            &["777"],
        ),
        f(
            "temperature / top_p",
            chat(json!({"temperature": 0.125, "top_p": 0.375})),
            &["0.375"],
        ),
        f("seed", chat(json!({"seed": 987654321})), &["987654321"]),
        f(
            "n > 1",
            chat(json!({"n": 2})),
            &["\"n\":2", "candidateCount"],
        ),
        f(
            "logprobs / top_logprobs",
            chat(json!({"logprobs": true, "top_logprobs": 7})),
            &["\"logprobs\":7", "top_logprobs"],
        ),
        f(
            "reasoning_effort",
            chat(json!({"reasoning_effort": "high"})),
            &["reasoning_effort", "thinking", "budget_tokens"],
        ),
        f(
            "user / metadata",
            chat(json!({"user": "user-matrix-1"})),
            &["user-matrix-1"],
        ),
        f(
            "unknown vendor field",
            chat(json!({"x_vendor_flag": "vendor-matrix"})),
            &["vendor-matrix"],
        ),
        Feature {
            name: "stream with stream_options.include_usage",
            format: WireFormat::OpenaiChat,
            stream: true,
            body: chat(json!({"stream": true, "stream_options": {"include_usage": true}})),
            needles: &["include_usage"],
        },
        Feature {
            name: "embeddings (/v1/embeddings)",
            format: WireFormat::OpenaiEmbeddings,
            stream: false,
            body: json!({"model": "m", "input": ["embed matrix text"]}),
            needles: &["embed matrix text"],
        },
    ]
}

fn responses(extra: Value) -> Value {
    let mut v = json!({"model": "m", "input": "hello matrix"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

fn responses_features() -> Vec<Feature> {
    let f = |name, body, needles| Feature {
        name,
        format: WireFormat::OpenaiResponses,
        stream: false,
        body,
        needles,
    };
    let tool = json!({"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
    vec![
        f("text input", responses(json!({})), &["hello matrix"]),
        f(
            "instructions",
            responses(json!({"instructions": "you are a matrix bot"})),
            &["you are a matrix bot"],
        ),
        f(
            "input items with an image (https URL)",
            responses(
                json!({"input": [{"role": "user", "content": [{"type": "input_text", "text": "what is it"}, {"type": "input_image", "image_url": "https://example.com/cat.png"}]}]}),
            ),
            &["https://example.com/cat.png"],
        ),
        f(
            "function tools",
            responses(json!({"tools": [tool.clone()]})),
            &["get_weather"],
        ),
        f(
            "tool_choice (named function)",
            responses(
                json!({"tools": [tool.clone()], "tool_choice": {"type": "function", "name": "get_weather"}}),
            ),
            &[
                "\"tool\":{\"name\":\"get_weather\"",
                "\"name\":\"get_weather\",\"type\":\"tool\"",
                "\"type\":\"tool\",\"name\":\"get_weather\"",
                "allowedFunctionNames",
                "\"function\":{\"name\":\"get_weather\"",
            ],
        ),
        f(
            "function_call and function_call_output items",
            responses(json!({"tools": [tool.clone()], "input": [
                {"role": "user", "content": "weather in Rome"},
                {"type": "function_call", "call_id": "call_b", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_b", "output": "rainy-in-rome"}]})),
            &["rainy-in-rome"],
        ),
        f(
            "text.format json_schema",
            responses(
                json!({"text": {"format": {"type": "json_schema", "name": "weather_report", "schema": {"type": "object", "properties": {"temperature_c": {"type": "number"}}}}}}),
            ),
            &["temperature_c"],
        ),
        f(
            "max_output_tokens",
            responses(json!({"max_output_tokens": 777})),
            &["777"],
        ),
        f(
            "temperature / top_p",
            responses(json!({"temperature": 0.125, "top_p": 0.375})),
            &["0.375"],
        ),
        f(
            "reasoning.effort",
            responses(json!({"reasoning": {"effort": "high"}})),
            &["reasoning_effort", "thinking", "budget_tokens"],
        ),
        f(
            "include reasoning.encrypted_content",
            responses(json!({"include": ["reasoning.encrypted_content"]})),
            &["encrypted_content"],
        ),
        f(
            "built-in tool (web_search)",
            responses(json!({"tools": [{"type": "web_search"}]})),
            &["web_search"],
        ),
        f(
            "previous_response_id⁴",
            responses(json!({"previous_response_id": "resp_matrix"})),
            &["resp_matrix"],
        ),
        Feature {
            name: "stream (usage in response.completed)",
            format: WireFormat::OpenaiResponses,
            stream: true,
            body: responses(json!({"stream": true})),
            needles: &["include_usage", "\"stream\":true", "streamGenerateContent"],
        },
    ]
}

fn completions(extra: Value) -> Value {
    let mut v = json!({"model": "m", "prompt": "hello matrix"});
    if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            o.insert(k.clone(), x.clone());
        }
    }
    v
}

fn completions_features() -> Vec<Feature> {
    let f = |name, body, needles| Feature {
        name,
        format: WireFormat::OpenaiCompletions,
        stream: false,
        body,
        needles,
    };
    vec![
        f(
            "prompt (a string)",
            completions(json!({})),
            &["hello matrix"],
        ),
        f(
            "prompt (an array of one string)",
            completions(json!({"prompt": ["hello matrix"]})),
            &["hello matrix"],
        ),
        f(
            "max_tokens (16 when absent)",
            completions(json!({"max_tokens": 777})),
            &["777"],
        ),
        f(
            "temperature / top_p",
            completions(json!({"temperature": 0.125, "top_p": 0.375})),
            &["0.375"],
        ),
        f(
            "stop",
            completions(json!({"stop": ["matrix-stop"]})),
            &["matrix-stop"],
        ),
        f(
            "presence_penalty / frequency_penalty",
            completions(json!({"presence_penalty": 0.625, "frequency_penalty": 0.625})),
            &["0.625"],
        ),
        f("seed", completions(json!({"seed": 4242})), &["4242"]),
        f(
            "user",
            completions(json!({"user": "matrix-user"})),
            &["matrix-user"],
        ),
        f(
            "logit_bias",
            completions(json!({"logit_bias": {"50256": -100}})),
            &["50256"],
        ),
        f(
            "several prompts",
            completions(json!({"prompt": ["hello matrix", "hello again"]})),
            &["hello again"],
        ),
        f(
            "token-id prompt",
            completions(json!({"prompt": [15339, 6303]})),
            &["15339"],
        ),
        f(
            "n > 1 / best_of > 1",
            completions(json!({"n": 2, "best_of": 2})),
            &["\"n\":2"],
        ),
        f("echo", completions(json!({"echo": true})), &["echo"]),
        f(
            "suffix",
            completions(json!({"suffix": "matrix-suffix"})),
            &["matrix-suffix"],
        ),
        f(
            "logprobs",
            completions(json!({"logprobs": 2})),
            &["logprobs"],
        ),
        Feature {
            name: "stream (include_usage)",
            format: WireFormat::OpenaiCompletions,
            stream: true,
            body: completions(json!({"stream": true, "stream_options": {"include_usage": true}})),
            needles: &["include_usage", "\"stream\":true", "streamGenerateContent"],
        },
    ]
}

fn anthropic_features() -> Vec<Feature> {
    let f = |name, body, needles| Feature {
        name,
        format: WireFormat::AnthropicMessages,
        stream: false,
        body,
        needles,
    };
    vec![
        f("text message", messages(json!({})), &["hello matrix"]),
        f(
            "system prompt",
            messages(json!({"system": "you are a matrix bot"})),
            &["you are a matrix bot"],
        ),
        f(
            "cache_control (ephemeral, ttl 1h)",
            messages(
                json!({"system": [{"type": "text", "text": "long context", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}),
            ),
            &["\"1h\"", "cachePoint"],
        ),
        f(
            "image (base64)",
            messages(
                json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}, {"type": "text", "text": "what is it"}]}]}),
            ),
            &["iVBORw0KGgo"],
        ),
        f(
            "document (PDF)",
            messages(
                json!({"messages": [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"}}, {"type": "text", "text": "summarise"}]}]}),
            ),
            &["JVBERi0xLjQK"],
        ),
        f(
            "tools and tool_choice any",
            messages(
                json!({"tools": [{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}], "tool_choice": {"type": "any"}}),
            ),
            &["get_weather"],
        ),
        f(
            "tool_use / tool_result history",
            messages(
                json!({"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}], "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rainy-in-rome"}]}]}),
            ),
            &["rainy-in-rome"],
        ),
        f(
            "thinking (budget²)",
            messages(
                json!({"max_tokens": 4096, "thinking": {"type": "enabled", "budget_tokens": 2048}}),
            ),
            &[
                "2048",
                "reasoning_effort",
                "thinkingBudget",
                "budget_tokens",
            ],
        ),
        f(
            "stop_sequences",
            messages(json!({"stop_sequences": ["STOPHERE"]})),
            &["STOPHERE"],
        ),
        f("top_k", messages(json!({"top_k": 17})), &["17"]),
        f(
            "metadata.user_id",
            messages(json!({"metadata": {"user_id": "user-matrix-1"}})),
            &["user-matrix-1"],
        ),
        Feature {
            name: "stream",
            format: WireFormat::AnthropicMessages,
            stream: true,
            body: messages(json!({"stream": true})),
            needles: &["\"stream\":true", "streamGenerateContent"],
        },
    ]
}

/// One cell.
fn classify(c: &RouteTable, f: &Feature, provider: &str) -> String {
    let m = c.get("m").unwrap();
    let dep = m
        .deployments
        .iter()
        .find(|d| d.provider.name == provider)
        .unwrap();
    let body = serde_json::to_vec(&f.body).unwrap();
    match translate_request(f.format, dep, &body, f.stream) {
        Err(_) => "rejected".into(),
        Ok(p) => {
            if matches!(
                p.mode,
                Mode::OpenAi | Mode::Anthropic | Mode::OpenAiResponses
            ) {
                return "passthrough".into();
            }
            let out = String::from_utf8_lossy(&p.body);
            // Streaming for native providers is chosen by URL, not by a body field.
            let streamed_by_url = f.stream && matches!(p.mode.upstream(), Mode::Native { .. });
            let carried = streamed_by_url
                || f.needles.iter().any(|n| out.contains(n))
                || (f.needles == ["include_usage"]
                    && matches!(
                        p.mode.upstream(),
                        Mode::Native {
                            include_usage: true,
                            ..
                        } | Mode::OpenAiFromAnthropic {
                            include_usage: true,
                            ..
                        }
                    ));
            if carried {
                "translated".into()
            } else if p.warnings.is_empty() {
                // Neither carried nor reported: a silent loss, which this test refuses.
                panic!(
                    "`{}` to `{provider}` is lost without a warning: {out}",
                    f.name
                )
            } else {
                "dropped".into()
            }
        }
    }
}

fn table(
    c: &RouteTable,
    title: &str,
    providers: &[(&str, &str)],
    features: &[Feature],
    out: &mut String,
) {
    let _ = writeln!(out, "\n## {title}\n");
    out.push_str("| feature |");
    for (_, label) in providers {
        let _ = write!(out, " {label} |");
    }
    out.push_str("\n|---|");
    for _ in providers {
        out.push_str("---|");
    }
    out.push('\n');
    for f in features {
        let _ = write!(out, "| {} |", f.name);
        for (p, _) in providers {
            let _ = write!(out, " {} |", classify(c, f, p));
        }
        out.push('\n');
    }
}

fn render() -> String {
    let c = route_table();
    let mut out = String::from(
        "# Support matrix\n\n\
         Generated by `crates/routing/src/matrix_tests.rs` from the translation dispatch the \
         gateway runs; a test fails when this file and the code disagree (regenerate with \
         `TOLLGATE_BLESS=1 cargo test -p tollgate-routing support_matrix`).\n\n\
         - **passthrough**: the client's bytes reach the provider with only `model` changed, so \
         every provider feature survives;\n\
         - **translated**: the feature's value is in the provider's request;\n\
         - **dropped**: served without it; counted in `tollgate_translation_dropped_total{field}`;\n\
         - **rejected**: 400 in the client's format, naming the parameter.\n\n\
         ¹ OpenAI, Azure OpenAI, Groq, Mistral, DeepSeek, Together, Fireworks, OpenRouter, xAI, \
         vLLM, Ollama, LM Studio (`preset = \"...\"`; see README). Anthropic clients reach Gemini \
         and Bedrock through the OpenAI translation (Anthropic → OpenAI → provider).\n\n\
         ² Across formats a thinking budget goes through OpenAI's `reasoning_effort` \
         (low/medium/high), so the provider gets the nearest step, not the exact budget.\n\n\
         ³ A provider serving OpenAI's Responses API itself (`responses = true`, the default of \
         the `openai` preset) gets a Responses client's bytes; every other deployment is reached \
         through the chat pivot (Responses → OpenAI chat → provider) and its answer is turned \
         back into a Response (streams end with `response.completed` carrying usage, or \
         `response.failed`).\n\n\
         ⁴ Stored responses are not available yet on translated deployments: send the earlier \
         items in `input`.\n\n\
         ⁵ No provider kind serves OpenAI's legacy Completions API for chat models, so every \
         deployment is reached through the chat pivot (the prompt as one user message → OpenAI \
         chat → provider) and its answer is turned back into a `text_completion` (streams end \
         with the usage chunk when asked, then `[DONE]`, or OpenAI's error event). What chat \
         cannot do honestly (`echo`, `suffix`, `logprobs`, several choices) is refused.\n\n\
         Answers are translated back the same way (text, tool calls with their argument deltas \
         and parallel indexes, reasoning, stop reasons, usage at the end of streams, provider \
         errors in the client's shape); see `crates/formats` and `crates/routing/tests/native.rs`.\n",
    );
    table(
        &c,
        "OpenAI client (`/v1/chat/completions`, `/v1/embeddings`)",
        PROVIDERS,
        &openai_features(),
        &mut out,
    );
    table(
        &c,
        "Anthropic client (`/v1/messages`)",
        PROVIDERS,
        &anthropic_features(),
        &mut out,
    );
    table(
        &c,
        "OpenAI Responses client (`/v1/responses`)",
        RESPONSES_PROVIDERS,
        &responses_features(),
        &mut out,
    );
    table(
        &c,
        "OpenAI legacy Completions client (`/v1/completions`)⁵",
        PROVIDERS,
        &completions_features(),
        &mut out,
    );
    out
}

#[test]
fn support_matrix_matches_docs() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/support-matrix.md");
    let now = render();
    #[allow(clippy::disallowed_methods)]
    if std::env::var_os("TOLLGATE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &now).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == now,
        "docs/support-matrix.md is stale; regenerate with TOLLGATE_BLESS=1 cargo test -p tollgate-routing support_matrix\n{now}"
    );
}
