//! The Responses API (`POST /v1/responses`, what the Codex CLI and the OpenAI Agents SDK speak)
//! through the official OpenAI Python SDK (pinned in `scripts/python-sdks.sh`), unchanged but
//! for base URL and key, against every provider kind of the mock: the Responses-native
//! deployment passed through, the others translated through the chat pivot. Each call ends in
//! one ledger row whose tokens and cost are what the SDK was told.
//!
//! Needs the interpreter from `scripts/python-sdks.sh` (`TOLLGATE_PYTHON`); without it the test
//! fails and says how to get it, it is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::Value;
use tollgate_tests::Stack;
use tollgate_tests::python::run_script;

/// Every provider kind the mock speaks: OpenAI chat, Anthropic, Gemini, Bedrock, and the
/// Responses API natively.
const MODELS: [&str; 5] = [
    "mock",
    "claude-mock",
    "gemini-mock",
    "bedrock-mock",
    "responses-mock",
];

fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn tokens(row: &Value, column: &str) -> u64 {
    row[column].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_responses_api_works_against_every_provider_kind() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("responses", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let v = run_script(
        "responses_check.py",
        &[
            ("TOLLGATE_EDGE_URL", stack.edge_url().as_str()),
            ("TOLLGATE_KEY", key.as_str()),
            ("TOLLGATE_MODELS", MODELS.join(",").as_str()),
        ],
    )
    .await;

    let mut output_tokens = 0;
    for model in MODELS {
        let r = &v[model];
        let plain = &r["plain"];
        assert_eq!(plain["object"], "response", "{model}: {plain}");
        assert_eq!(plain["status"], "completed", "{model}: {plain}");
        assert!(
            plain["id"].as_str().unwrap().starts_with("resp_"),
            "{plain}"
        );
        assert!(
            !plain["text"].as_str().unwrap().is_empty(),
            "{model}: {plain}"
        );
        assert_eq!(
            plain["output_types"],
            serde_json::json!(["message"]),
            "{model}"
        );
        // What the SDK was told is what the ledger billed: tokens and cost.
        let row = stack
            .ledger_row(&tenant, plain["request_id"].as_str().unwrap())
            .await;
        assert_eq!(
            tokens(&row, "input_tokens"),
            u(&plain["usage"], "input"),
            "{model}: {row}"
        );
        assert_eq!(
            tokens(&row, "output_tokens"),
            u(&plain["usage"], "output"),
            "{model}: {row}"
        );
        let billed: f64 = row["cost_usd"].as_str().unwrap().parse().unwrap();
        let told = plain["usage"]["cost"]
            .as_f64()
            .unwrap_or_else(|| panic!("{model}: no usage.cost in {plain}"));
        assert!(
            (billed - told).abs() < 1e-12,
            "{model}: billed {billed}, told {told}"
        );
        output_tokens += u(&plain["usage"], "output");

        // The documented event sequence, numbered from 0, ending in response.completed.
        let s = &r["stream"];
        let types: Vec<&str> = s["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(
            types[..2],
            ["response.created", "response.in_progress"],
            "{model}: {types:?}"
        );
        assert_eq!(
            types.last(),
            Some(&"response.completed"),
            "{model}: {types:?}"
        );
        for expected in [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
        ] {
            assert!(
                types.contains(&expected),
                "{model}: no {expected} in {types:?}"
            );
        }
        let sequence: Vec<u64> = s["sequence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .collect();
        assert_eq!(
            sequence,
            (0..sequence.len() as u64).collect::<Vec<_>>(),
            "{model}"
        );
        assert_eq!(
            s["deltas"], s["text"],
            "{model}: the deltas make the final text"
        );
        assert!(!s["text"].as_str().unwrap().is_empty(), "{model}: {s}");
        assert_eq!(s["status"], "completed", "{model}: {s}");
        assert!(
            u(&s["usage"], "output") > 0,
            "{model}: streams are never billed as zero"
        );
        assert!(
            s["usage"]["cost"].as_f64().is_some(),
            "{model}: no usage.cost in {s}"
        );
        output_tokens += u(&s["usage"], "output");

        // Structured output: the SDK parsed the answer into its Pydantic model.
        let p = &r["parse"];
        assert!(p["parsed"]["city"].is_string(), "{model}: {p}");
        assert!(p["parsed"]["temperature_c"].is_number(), "{model}: {p}");
        output_tokens += u(&p["usage"], "output");

        // A tool call, answered, continued by the client.
        let t = &r["tools"];
        assert_eq!(
            t["calls"],
            serde_json::json!(["get_weather"]),
            "{model}: {t}"
        );
        assert!(t["arguments"][0]["city"].is_string(), "{model}: {t}");
        assert!(
            !t["call_ids"][0].as_str().unwrap().is_empty(),
            "{model}: {t}"
        );
        assert!(
            !t["second_text"].as_str().unwrap().is_empty(),
            "{model}: {t}"
        );
        for turn in t["usage"].as_array().unwrap() {
            output_tokens += u(turn, "output");
        }
    }
    assert_eq!(v["error:unknown_model"]["status"], 404);
    assert_eq!(v["error:unknown_model"]["code"], "model_not_found");
    assert_eq!(v["error:builtin_tool"]["status"], 400);
    assert!(
        v["error:builtin_tool"]["message"]
            .as_str()
            .unwrap()
            .contains("web_search_preview"),
        "{}",
        v["error:builtin_tool"]
    );

    // One ledger row per answered call (plain, stream, parse, two tool turns per model), plus
    // the built-in tool refused by routing's translation (admitted, so recorded, at $0; the
    // unknown model is refused before admission), and the output the SDK was told about is
    // exactly what the mock served and the ledger billed.
    let spend = stack
        .wait_ledger(&tenant, 5 * MODELS.len() as u64 + 1)
        .await;
    let billed = spend["total"]["output_tokens"].as_u64().unwrap();
    assert_eq!(billed, output_tokens, "{spend}");
    assert_eq!(billed, stack.mock.stats().completion_tokens, "{spend}");
    stack.shutdown().await;
}

/// Conversation state kept by the gateway: with `store` (OpenAI's default) a tool call is
/// continued by `previous_response_id` against every provider kind, the stored response reads
/// back through `retrieve` and `input_items`, and is gone after `delete`; an id is "not found"
/// to another tenant; a tenant that does not allow content gets nothing stored and a clear 400
/// for `previous_response_id`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_responses_continue_conversations_within_their_tenant() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("stored-responses", true).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let v = run_script(
        "responses_check.py",
        &[
            ("TOLLGATE_EDGE_URL", stack.edge_url().as_str()),
            ("TOLLGATE_KEY", key.as_str()),
            ("TOLLGATE_MODELS", MODELS.join(",").as_str()),
            ("TOLLGATE_STORED", "1"),
        ],
    )
    .await;
    let mut output_tokens = 0;
    for model in MODELS {
        let r = &v[model];
        assert_eq!(
            r["calls"],
            serde_json::json!(["get_weather"]),
            "{model}: {r}"
        );
        assert!(
            !r["second_text"].as_str().unwrap().is_empty(),
            "{model}: {r}"
        );
        assert_eq!(r["retrieved_text"], r["second_text"], "{model}: {r}");
        assert_eq!(r["retrieved_usage"], r["second_usage"], "{model}: {r}");
        // The second turn's input: the first question, the call, and its output.
        let types = r["input_item_types"].as_array().unwrap();
        assert!(types.len() >= 3, "{model}: {r}");
        assert!(
            types.contains(&serde_json::json!("function_call")),
            "{model}: {r}"
        );
        assert!(
            types.contains(&serde_json::json!("function_call_output")),
            "{model}: {r}"
        );
        assert_eq!(r["gone_after_delete"], true, "{model}: {r}");
        for turn in r["usage"].as_array().unwrap() {
            output_tokens += u(turn, "output");
        }
    }
    let spend = stack.wait_ledger(&tenant, 2 * MODELS.len() as u64).await;
    assert_eq!(
        spend["total"]["output_tokens"].as_u64().unwrap(),
        output_tokens
    );

    // Another tenant cannot read, continue or delete the first tenant's responses.
    let first = v["mock"]["first_id"].as_str().unwrap();
    let other = stack.tenant("stored-responses-other", true).await;
    let (_, other_key) = stack.key(&other, 0, 0).await;
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;
    // Deleted means gone for its owner too.
    let (status, _) = call(&stack, &get, &format!("/v1/responses/{first}"), &key, None).await;
    assert_eq!(status, 404, "deleted for its owner too");
    // A stored answer of the first tenant, read by it, is "not found" to the other.
    let body = serde_json::json!({"model": "mock", "input": "hi", "max_output_tokens": 16});
    let (status, owned) = call(&stack, &post, "/v1/responses", &key, Some(&body)).await;
    assert_eq!(status, 200, "{owned}");
    let id = owned["id"].as_str().unwrap();
    let (status, _) = call(&stack, &get, &format!("/v1/responses/{id}"), &key, None).await;
    assert_eq!(status, 200);
    for (method, path) in [
        (get.clone(), format!("/v1/responses/{id}")),
        (get.clone(), format!("/v1/responses/{id}/input_items")),
        (reqwest::Method::DELETE, format!("/v1/responses/{id}")),
    ] {
        let (status, _) = call(&stack, &method, &path, &other_key, None).await;
        assert_eq!(status, 404, "{method} {path} across tenants");
    }
    let more = serde_json::json!({"model": "mock", "previous_response_id": id, "input": "more"});
    let (status, e) = call(&stack, &post, "/v1/responses", &other_key, Some(&more)).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "previous_response_not_found", "{e}");
    assert_eq!(e["error"]["param"], "previous_response_id", "{e}");

    // A tenant that keeps no content: answered, nothing stored, continuation refused clearly.
    let private = stack.tenant("stored-responses-private", false).await;
    let (_, private_key) = stack.key(&private, 0, 0).await;
    let (status, r) = call(&stack, &post, "/v1/responses", &private_key, Some(&body)).await;
    assert_eq!(status, 200, "{r}");
    let private_id = r["id"].as_str().unwrap();
    let path = format!("/v1/responses/{private_id}");
    let (status, _) = call(&stack, &get, &path, &private_key, None).await;
    assert_eq!(status, 404, "nothing stored for a tenant without content");
    let more =
        serde_json::json!({"model": "mock", "previous_response_id": private_id, "input": "x"});
    let (status, e) = call(&stack, &post, "/v1/responses", &private_key, Some(&more)).await;
    assert_eq!(status, 400);
    assert_eq!(e["error"]["code"], "previous_response_not_stored", "{e}");
    stack.shutdown().await;
}

/// One call to the edge with `key`: the status and the JSON body (null when there is none).
async fn call(
    stack: &Stack,
    method: &reqwest::Method,
    path: &str,
    key: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut req = stack
        .http()
        .request(method.clone(), format!("{}{path}", stack.edge_url()))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Item 3 of issue 14: `usage.input_tokens_details.cached_tokens` and
/// `usage.output_tokens_details.reasoning_tokens` reach a Responses client, whole and
/// streamed, and the ledger row, whose cost (cached tokens at the cached price, reasoning as
/// output) is the `usage.cost` the client was told. The mock caches a long prompt it saw
/// before, as OpenAI's automatic caching does, and spends 16 reasoning tokens on `medium`
/// effort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_and_reasoning_tokens_reach_the_client_and_the_ledger() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("responses-details", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let long = "lorem ".repeat(1_100);
    let body = |stream: bool| {
        serde_json::json!({"model": "responses-mock", "input": long, "stream": stream,
                           "reasoning": {"effort": "medium"}, "max_output_tokens": 64})
    };
    let send = |stream: bool| {
        stack
            .http()
            .post(format!("{}/v1/responses", stack.edge_url()))
            .bearer_auth(&key)
            .json(&body(stream))
            .send()
    };

    // The first sight of the prompt writes the cache: nothing read from it yet.
    let r = send(false).await.unwrap();
    assert_eq!(r.status(), 200);
    let first: Value = r.json().await.unwrap();
    assert_eq!(
        first["usage"]["input_tokens_details"]["cached_tokens"], 0,
        "{first}"
    );

    // Then it is read from the cache, whole and streamed.
    let r = send(false).await.unwrap();
    let whole_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let whole: Value = r.json().await.unwrap();
    let r = send(true).await.unwrap();
    let streamed_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    let completed: Value = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|e| e["type"] == "response.completed")
        .unwrap_or_else(|| panic!("no response.completed in {text}"));
    let streamed = &completed["response"];

    for (id, answer) in [(whole_id, &whole), (streamed_id, streamed)] {
        let usage = &answer["usage"];
        let input = u(usage, "input_tokens");
        let cached = usage["input_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap();
        let reasoning = usage["output_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap();
        // The mock's documented rules: whole blocks of 128 cached, 16 tokens for `medium`.
        assert_eq!(cached, input / 128 * 128, "{answer}");
        assert!(cached >= 1024, "{answer}");
        assert_eq!(reasoning, 16, "{answer}");
        let output = u(usage, "output_tokens");
        assert!(
            output > reasoning,
            "reasoning is part of the output: {answer}"
        );

        let row = stack.ledger_row(&tenant, &id).await;
        assert_eq!(tokens(&row, "input_tokens"), input, "{row}");
        assert_eq!(tokens(&row, "cached_input_tokens"), cached, "{row}");
        assert_eq!(tokens(&row, "reasoning_tokens"), reasoning, "{row}");
        assert_eq!(tokens(&row, "output_tokens"), output, "{row}");
        // responses-mock: $1.25 input, $0.125 cached, $10 output (and reasoning) per million.
        let picos = (input - cached) * 1_250_000 + cached * 125_000 + output * 10_000_000;
        let billed: f64 = row["cost_usd"].as_str().unwrap().parse().unwrap();
        assert!((billed - picos as f64 / 1e12).abs() < 1e-12, "{row}");
        let told = usage["cost"].as_f64().unwrap();
        assert!(
            (billed - told).abs() < 1e-12,
            "billed {billed}, told {told}"
        );
    }
    stack.shutdown().await;
}
