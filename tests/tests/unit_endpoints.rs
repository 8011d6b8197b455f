//! The endpoints billed by unit (issue 14, item 7) through the whole system over plain HTTP:
//! `POST /v1/images/generations`, `/v1/audio/speech`, `/v1/audio/transcriptions`,
//! `/v1/moderations`, `/v1/rerank` (and under `/api/v1`), passed through to the OpenAI-kind mock.
//! Each answer is checked as a user sees it (shape, content type, the model name shown), and
//! each request's ledger row for the unit, the count the mock served and the cost the catalog's
//! price gives, equal to what the client was told it cost. Keys, rate limits and providers
//! that do not serve an endpoint are checked too.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tollgate_domain::Money;
use tollgate_tests::Stack;

/// USD amounts of the test stack's prices (`tests/src/lib.rs`), in pico-dollars.
fn usd(s: &str) -> i64 {
    Money::parse_usd(s).unwrap().picos()
}

/// A ledger cell that is a count.
fn count(row: &Value, column: &str) -> u64 {
    row[column]
        .as_str()
        .unwrap_or_else(|| panic!("{column} in {row}"))
        .parse()
        .unwrap_or_else(|_| panic!("{column} in {row}"))
}

/// A ledger row's cost, in pico-dollars.
fn billed(row: &Value) -> i64 {
    usd(row["cost_usd"].as_str().unwrap())
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-request-id"].to_str().unwrap().to_owned()
}

/// The `x-tollgate-cost` the client was told, in pico-dollars.
fn told(r: &reqwest::Response) -> i64 {
    usd(r.headers()["x-tollgate-cost"].to_str().unwrap())
}

async fn post(stack: &Stack, key: &str, path: &str, body: Value) -> reqwest::Response {
    stack
        .http()
        .post(format!("{}{path}", stack.edge_url()))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// An upload of `bytes` bytes of "audio" for `model`, with extra text fields.
fn upload(model: &str, bytes: usize, fields: &[(&'static str, &'static str)]) -> Form {
    let audio: Vec<u8> = (0..bytes).map(|i| (i % 251) as u8).collect();
    let mut form = Form::new()
        .part(
            "file",
            Part::bytes(audio)
                .file_name("speech.mp3")
                .mime_str("audio/mpeg")
                .unwrap(),
        )
        .text("model", model.to_owned());
    for (k, v) in fields {
        form = form.text(*k, *v);
    }
    form
}

async fn transcribe(stack: &Stack, key: &str, path: &str, form: Form) -> reqwest::Response {
    stack
        .http()
        .post(format!("{}{path}", stack.edge_url()))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_speech_moderations_and_rerank_bill_their_units() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("units", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    // gpt-image: two images as base64, token usage with the cost spliced in; billed per image
    // and per token.
    let r = post(
        &stack,
        &key,
        "/v1/images/generations",
        json!({"model": "image-mock", "prompt": "a red fox in the snow", "n": 2}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (id, header_cost) = (request_id(&r), told(&r));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    assert!(v["data"][0]["b64_json"].is_string(), "{v}");
    let (input, output) = (
        v["usage"]["input_tokens"].as_u64().unwrap(),
        v["usage"]["output_tokens"].as_u64().unwrap(),
    );
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(row["billed_unit"], "image", "{row}");
    assert_eq!(count(&row, "billed_units"), 2);
    assert_eq!(count(&row, "input_tokens"), input);
    assert_eq!(count(&row, "output_tokens"), output);
    let price = 2 * usd("0.04") + input as i64 * usd("0.000005") + output as i64 * usd("0.00004");
    assert_eq!(billed(&row), price, "{row}");
    assert_eq!(header_cost, price);
    let in_body = v["usage"]["cost"].as_f64().unwrap();
    assert!((in_body - price as f64 / 1e12).abs() < 1e-12, "{v}");

    // dall-e under the OpenRouter base URL: URLs, no usage; billed per image only.
    let r = post(
        &stack,
        &key,
        "/api/v1/images/generations",
        json!({"model": "dalle-mock", "prompt": "a fox", "response_format": "url"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (id, header_cost) = (request_id(&r), told(&r));
    let v: Value = r.json().await.unwrap();
    assert!(
        v["data"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://"),
        "{v}"
    );
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("image"), 1)
    );
    assert_eq!(billed(&row), usd("0.08"));
    assert_eq!(header_cost, usd("0.08"));

    // Speech: audio bytes with the format's content type; billed per character of input.
    let input = "Grüße an das Gateway — 42 Zeichen, bitte!";
    let chars = input.chars().count() as i64;
    let r = post(
        &stack,
        &key,
        "/v1/audio/speech",
        json!({"model": "tts-mock", "input": input, "voice": "alloy", "response_format": "wav"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "audio/wav");
    let id = request_id(&r);
    let audio = r.bytes().await.unwrap();
    // The mock's documented size: 64 bytes of audio per character.
    assert_eq!(audio.len() as i64, chars * 64);
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(row["billed_unit"], "character", "{row}");
    assert_eq!(count(&row, "billed_units") as i64, chars);
    assert_eq!(billed(&row), chars * usd("0.000015"));

    // Moderations: one result per input, the model shown by its public name; per request.
    let r = post(
        &stack,
        &key,
        "/v1/moderations",
        json!({"model": "moderation-mock", "input": ["I will kill the lights", "hello"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (id, header_cost) = (request_id(&r), told(&r));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["model"], "moderation-mock", "{v}");
    assert_eq!(v["results"][0]["flagged"], true, "{v}");
    assert_eq!(v["results"][0]["categories"]["violence"], true, "{v}");
    assert_eq!(v["results"][1]["flagged"], false, "{v}");
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("request"), 1)
    );
    assert_eq!(billed(&row), usd("0.0002"));
    assert_eq!(header_cost, usd("0.0002"));

    // Rerank (Cohere's shape): best match first, cut at top_n; per search unit.
    let r = post(
        &stack,
        &key,
        "/v1/rerank",
        json!({"model": "rerank-mock", "query": "capital of France", "top_n": 2,
               "documents": ["Berlin is big", "Paris is the capital of France", "the capital"]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (id, header_cost) = (request_id(&r), told(&r));
    let v: Value = r.json().await.unwrap();
    let order: Vec<u64> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["index"].as_u64().unwrap())
        .collect();
    assert_eq!(order, [1, 2], "{v}");
    assert!(
        v["results"][0]["relevance_score"].as_f64().unwrap() > 0.9,
        "{v}"
    );
    assert_eq!(v["meta"]["billed_units"]["search_units"], 1, "{v}");
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("search_unit"), 1)
    );
    assert_eq!(billed(&row), usd("0.002"));
    assert_eq!(header_cost, usd("0.002"));

    // What the ledger billed is what the mock served, unit by unit.
    let served = stack.mock.stats();
    assert_eq!(served.images, 3);
    assert_eq!(served.speech_characters as i64, chars);
    assert_eq!(served.moderation_requests, 1);
    assert_eq!(served.search_units, 1);

    // The catalog shows the unit prices and what the models make.
    let m: Value = stack
        .http()
        .get(format!("{}/v1/models/image-mock", stack.edge_url()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["pricing"]["image"], "0.04", "{m}");
    assert_eq!(
        m["architecture"]["output_modalities"],
        json!(["image"]),
        "{m}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcriptions_read_the_model_from_the_form_and_bill_seconds_or_tokens() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("transcriptions", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    // whisper: the form's model is swapped for the deployment's, the answer's seconds billed.
    let r = transcribe(
        &stack,
        &key,
        "/v1/audio/transcriptions",
        upload("whisper-mock", 10_000, &[]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let (id, header_cost) = (request_id(&r), told(&r));
    let v: Value = r.json().await.unwrap();
    // The mock's documented rule: one second per 4,000 bytes, one word per second.
    assert_eq!(v["usage"]["type"], "duration", "{v}");
    assert_eq!(v["usage"]["seconds"], 3, "{v}");
    assert_eq!(v["text"].as_str().unwrap().split(' ').count(), 3, "{v}");
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("audio_second"), 3)
    );
    assert_eq!(billed(&row), 3 * usd("0.0001"));
    assert_eq!(header_cost, 3 * usd("0.0001"));
    let in_body = v["usage"]["cost"].as_f64().unwrap();
    assert!((in_body - 0.0003).abs() < 1e-12, "{v}");
    let (path, sent) = stack.mock.seen_bodies().pop().unwrap();
    assert_eq!(path, "/v1/audio/transcriptions");
    let sent = String::from_utf8_lossy(&sent).into_owned();
    assert!(
        sent.contains("name=\"model\"\r\n\r\nwhisper-1\r\n"),
        "{sent}"
    );
    assert!(!sent.contains("whisper-mock"), "{sent}");

    // Named as the deployment names it (an alias), the upload reaches the provider byte for
    // byte, under the client's boundary.
    let form = upload("whisper-1", 4_000, &[("language", "en")]);
    let boundary = form.boundary().to_owned();
    let r = stack
        .http()
        .post(format!("{}/api/v1/audio/transcriptions", stack.edge_url()))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, sent) = stack.mock.seen_bodies().pop().unwrap();
    let sent = String::from_utf8_lossy(&sent).into_owned();
    assert!(sent.starts_with(&format!("--{boundary}\r\n")), "{sent}");
    assert!(sent.contains("name=\"language\"\r\n\r\nen\r\n"), "{sent}");

    // A token-billed model (gpt-4o-transcribe): its tokens, no unit.
    let r = transcribe(
        &stack,
        &key,
        "/v1/audio/transcriptions",
        upload("transcribe-mock", 8_000, &[]),
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["usage"]["type"], "tokens", "{v}");
    let (input, output) = (
        v["usage"]["input_tokens"].as_u64().unwrap(),
        v["usage"]["output_tokens"].as_u64().unwrap(),
    );
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(row["billed_unit"], "", "{row}");
    assert_eq!(
        (count(&row, "input_tokens"), count(&row, "output_tokens")),
        (input, output)
    );
    assert_eq!(
        billed(&row),
        input as i64 * usd("0.0000025") + output as i64 * usd("0.00001")
    );

    // Plain text says no duration: the upload's size stands in (16,000 bytes a second, so
    // 20,000 bytes bill 2 seconds where the mock's own rule would say 5).
    let r = transcribe(
        &stack,
        &key,
        "/v1/audio/transcriptions",
        upload("whisper-mock", 20_000, &[("response_format", "text")]),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let id = request_id(&r);
    assert_eq!(r.text().await.unwrap().split_whitespace().count(), 5);
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("audio_second"), 2)
    );

    // A body that is not a form is refused before anything is spent, in OpenAI's shape.
    let r = post(
        &stack,
        &key,
        "/v1/audio/transcriptions",
        json!({"model": "whisper-mock"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_content_type", "{v}");
    let no_model = Form::new().part("file", Part::bytes(vec![1u8; 10]).file_name("a.mp3"));
    let r = transcribe(&stack, &key, "/v1/audio/transcriptions", no_model).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "model", "{v}");

    // Four answered requests, four rows; the refused ones never reached admission.
    stack.wait_ledger(&tenant, 4).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoints_need_a_key_count_against_limits_and_say_which_models_cannot_serve_them() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("unit-limits", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;

    // No key: refused on every route, nothing reaches the provider.
    let before = stack.mock.stats().requests;
    for path in [
        "/v1/images/generations",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/moderations",
        "/v1/rerank",
        "/api/v1/rerank",
    ] {
        let r = stack
            .http()
            .post(format!("{}{path}", stack.edge_url()))
            .json(&json!({"model": "image-mock", "prompt": "x"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "missing_api_key", "{path}: {v}");
    }
    assert_eq!(stack.mock.stats().requests, before);

    // A model whose only provider is Anthropic's kind does not serve images: a clear 400 that
    // names the route, never a 500; billed nothing.
    let r = post(
        &stack,
        &key,
        "/v1/images/generations",
        json!({"model": "claude-mock", "prompt": "a fox"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let id = request_id(&r);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_endpoint", "{v}");
    assert_eq!(v["error"]["param"], "model", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/images/generations"),
        "{v}"
    );
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(billed(&row), 0, "{row}");

    // Bad input is the caller's 400 with the parameter named.
    let r = post(
        &stack,
        &key,
        "/v1/images/generations",
        json!({"model": "image-mock"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "prompt", "{v}");
    let r = post(
        &stack,
        &key,
        "/v1/rerank",
        json!({"model": "rerank-mock", "query": "q", "documents": []}),
    )
    .await;
    assert_eq!(r.status(), 400);

    // Every endpoint counts against requests per minute: with room for two, the third waits.
    let k = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(json!({"name": "two a minute", "rpm_limit": 2})),
        )
        .await;
    let slow = k["secret"].as_str().unwrap().to_owned();
    stack.wait_key_works(&stack.edge_url(), &slow, true).await;
    let r = post(
        &stack,
        &slow,
        "/v1/moderations",
        json!({"model": "moderation-mock", "input": "hi"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = post(
        &stack,
        &slow,
        "/v1/audio/speech",
        json!({"model": "tts-mock", "input": "hi", "voice": "alloy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let before = stack.mock.stats().search_units;
    let r = post(
        &stack,
        &slow,
        "/v1/rerank",
        json!({"model": "rerank-mock", "query": "q", "documents": ["a"]}),
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error", "{v}");
    assert_eq!(stack.mock.stats().search_units, before);

    // Audio cut by the provider after its first bytes cannot end with an error event: the
    // client's download breaks instead of looking whole, and the row says it failed (billed
    // for the characters asked, as the provider bills them).
    stack.mock.set_options(tollgate_mock_provider::MockOptions {
        disconnect_after: Some(1),
        ..Default::default()
    });
    let input = "lorem ipsum ".repeat(10);
    let sent = stack
        .http()
        .post(format!("{}/v1/audio/speech", stack.edge_url()))
        .bearer_auth(&key)
        .json(&json!({"model": "tts-mock", "input": input, "voice": "alloy"}))
        .send()
        .await;
    // The connection may die before or after the headers go out; either way no whole answer.
    let whole = match sent {
        Ok(r) => r.bytes().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "a cut audio stream must not end cleanly");
    let t0 = std::time::Instant::now();
    let row = loop {
        let page = stack
            .admin(
                reqwest::Method::GET,
                &format!("/admin/v1/tenants/{tenant}/usage?model=tts-mock"),
                None,
            )
            .await;
        let failed = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["outcome"] == "failed")
            .cloned();
        if let Some(row) = failed {
            break row;
        }
        assert!(t0.elapsed().as_secs() < 30, "no failed row: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(row["http_status"], "502", "{row}");
    assert_eq!(row["billed_unit"], "character", "{row}");
    assert_eq!(count(&row, "billed_units"), input.chars().count() as u64);

    // A client hanging up mid-audio never gets routing's usage: it is billed the characters it
    // asked for (never nothing), marked as cancelled.
    stack.mock.set_options(tollgate_mock_provider::MockOptions {
        chunk_delay: std::time::Duration::from_millis(200),
        ..Default::default()
    });
    let input = "x".repeat(4_000);
    let mut r = post(
        &stack,
        &key,
        "/v1/audio/speech",
        json!({"model": "tts-mock", "input": input, "voice": "alloy"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    let id = request_id(&r);
    assert!(r.chunk().await.unwrap().is_some());
    drop(r);
    let row = stack.ledger_row(&tenant, &id).await;
    assert_eq!(row["outcome"], "client_cancelled", "{row}");
    assert_eq!(row["billed_unit"], "character", "{row}");
    assert_eq!(count(&row, "billed_units"), 4_000);
    assert_eq!(billed(&row), 4_000 * usd("0.000015"));
    stack.shutdown().await;
}

/// The official OpenAI Python SDK, unchanged but for base URL and key (interpreter from
/// `TOLLGATE_PYTHON` or `scripts/python-sdks.sh`; never skipped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_generates_images_speaks_transcribes_and_moderates() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("units-sdk", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let v = tollgate_tests::python::run_script(
        "endpoints_check.py",
        &[
            ("TOLLGATE_EDGE_URL", stack.edge_url().as_str()),
            ("TOLLGATE_KEY", key.as_str()),
        ],
    )
    .await;

    let images = &v["images"];
    assert_eq!(
        (images["count"].as_u64(), images["b64"].as_bool()),
        (Some(2), Some(true)),
        "{v}"
    );
    let row = stack
        .ledger_row(&tenant, images["request_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("image"), 2)
    );
    assert_eq!(
        count(&row, "input_tokens"),
        images["input_tokens"].as_u64().unwrap()
    );
    let cost = images["cost"].as_f64().unwrap();
    assert!(
        (cost - billed(&row) as f64 / 1e12).abs() < 1e-12,
        "told {cost}, billed {row}"
    );

    let speech = &v["speech"];
    assert_eq!(speech["content_type"], "audio/mpeg", "{v}");
    let chars = speech["characters"].as_u64().unwrap();
    assert_eq!(speech["bytes"].as_u64().unwrap(), chars * 64, "{v}");
    let row = stack
        .ledger_row(&tenant, speech["request_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("character"), chars)
    );
    assert_eq!(billed(&row), chars as i64 * usd("0.000015"));

    // 10,240 bytes uploaded: three seconds by the mock's rule.
    let t = &v["transcription"];
    assert_eq!(t["seconds"].as_f64(), Some(3.0), "{v}");
    assert!(!t["text"].as_str().unwrap().is_empty(), "{v}");
    let row = stack
        .ledger_row(&tenant, t["request_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("audio_second"), 3)
    );
    let cost = t["cost"].as_f64().unwrap();
    assert!(
        (cost - billed(&row) as f64 / 1e12).abs() < 1e-12,
        "told {cost}, billed {row}"
    );

    let m = &v["moderations"];
    assert_eq!(m["model"], "moderation-mock", "{v}");
    assert_eq!(m["flagged"], json!([true, false]), "{v}");
    assert_eq!(m["violence"], true, "{v}");
    let row = stack
        .ledger_row(&tenant, m["request_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (row["billed_unit"].as_str(), count(&row, "billed_units")),
        (Some("request"), 1)
    );
    assert_eq!(billed(&row), usd("0.0002"));

    assert_eq!(
        v["error"],
        json!({"status": 400, "code": "unsupported_endpoint"}),
        "{v}"
    );
    stack.shutdown().await;
}
