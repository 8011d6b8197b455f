//! OpenAI's legacy Completions API (`POST /v1/completions`) through the official OpenAI Python
//! SDK (pinned in `scripts/python-sdks.sh`), unchanged but for base URL and key, against every
//! provider kind of the mock, each reached through the chat pivot: plain and streamed with
//! `stream_options.include_usage`. Each call ends in one ledger row whose tokens and cost are
//! what the SDK was told; what chat cannot do (`echo`, several prompts) is a 400 naming the
//! parameter, before admission.
//!
//! Needs the interpreter from `scripts/python-sdks.sh` (`TOLLGATE_PYTHON`); without it the test
//! fails and says how to get it, it is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use serde_json::Value;
use tollgate_tests::Stack;
use tollgate_tests::python::run_script;

/// Every chat provider kind the mock speaks: OpenAI chat, Anthropic, Gemini, Bedrock.
const MODELS: [&str; 4] = ["mock", "claude-mock", "gemini-mock", "bedrock-mock"];

fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {v}"))
}

fn tokens(row: &Value, column: &str) -> u64 {
    row[column].as_str().unwrap().parse().unwrap()
}

/// The ledger row of `request_id` billed what `usage` told the SDK: tokens and cost.
async fn billed_as_told(
    stack: &Stack,
    tenant: &str,
    model: &str,
    request_id: &Value,
    usage: &Value,
) {
    let row = stack.ledger_row(tenant, request_id.as_str().unwrap()).await;
    assert_eq!(
        tokens(&row, "input_tokens"),
        u(usage, "prompt"),
        "{model}: {row}"
    );
    assert_eq!(
        tokens(&row, "output_tokens"),
        u(usage, "completion"),
        "{model}: {row}"
    );
    let billed: f64 = row["cost_usd"].as_str().unwrap().parse().unwrap();
    let told = usage["cost"]
        .as_f64()
        .unwrap_or_else(|| panic!("{model}: no usage.cost in {usage}"));
    assert!(
        (billed - told).abs() < 1e-12,
        "{model}: billed {billed}, told {told}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openai_sdk_completions_api_works_against_every_provider_kind() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("completions", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let v = run_script(
        "completions_check.py",
        &[
            ("TOLLGATE_EDGE_URL", stack.edge_url().as_str()),
            ("TOLLGATE_KEY", key.as_str()),
            ("TOLLGATE_MODELS", MODELS.join(",").as_str()),
        ],
    )
    .await;

    let mut output_tokens = 0;
    for model in MODELS {
        let plain = &v[model]["plain"];
        assert_eq!(plain["object"], "text_completion", "{model}: {plain}");
        assert_eq!(plain["model"], model, "{model}: {plain}");
        assert!(
            plain["id"].as_str().unwrap().starts_with("cmpl-"),
            "{plain}"
        );
        assert!(
            !plain["text"].as_str().unwrap().is_empty(),
            "{model}: {plain}"
        );
        assert_eq!(plain["index"], 0, "{model}: {plain}");
        assert_eq!(plain["logprobs"], Value::Null, "{model}: {plain}");
        let finish = plain["finish_reason"].as_str().unwrap();
        assert!(["stop", "length"].contains(&finish), "{model}: {plain}");
        let usage = &plain["usage"];
        assert_eq!(
            u(usage, "total"),
            u(usage, "prompt") + u(usage, "completion"),
            "{model}: {usage}"
        );
        billed_as_told(&stack, &tenant, model, &plain["request_id"], usage).await;
        output_tokens += u(usage, "completion");

        // The stream: text chunks, one finish reason, then exactly one usage chunk (no
        // choices) carrying the cost the ledger billed.
        let s = &v[model]["stream"];
        assert_eq!(
            s["objects"],
            serde_json::json!(["text_completion"]),
            "{model}: {s}"
        );
        assert!(!s["text"].as_str().unwrap().is_empty(), "{model}: {s}");
        let finishes = s["finish_reasons"].as_array().unwrap();
        assert_eq!(finishes.len(), 1, "{model}: {s}");
        assert!(
            ["stop", "length"].contains(&finishes[0].as_str().unwrap()),
            "{model}: {s}"
        );
        let usage_chunks = s["usage_chunks"].as_array().unwrap();
        assert_eq!(usage_chunks.len(), 1, "{model}: {s}");
        assert_eq!(
            s["last_has_choices"], false,
            "{model}: the usage chunk comes last: {s}"
        );
        let usage = &usage_chunks[0];
        assert!(
            u(usage, "completion") > 0,
            "{model}: streams are never billed as zero"
        );
        billed_as_told(&stack, &tenant, model, &s["request_id"], usage).await;
        output_tokens += u(usage, "completion");
    }
    for (case, needle) in [("error:echo", "echo"), ("error:prompts", "prompt")] {
        let e = &v[case];
        assert_eq!(e["status"], 400, "{case}: {e}");
        assert_eq!(e["param"], needle, "{case}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(needle),
            "{case}: {e}"
        );
    }

    // One ledger row per answered call (plain and stream per model; the refusals came before
    // admission), and the output the SDK was told about is exactly what the mock served and
    // the ledger billed.
    let spend = stack.wait_ledger(&tenant, 2 * MODELS.len() as u64).await;
    let billed = spend["total"]["output_tokens"].as_u64().unwrap();
    assert_eq!(billed, output_tokens, "{spend}");
    assert_eq!(billed, stack.mock.stats().completion_tokens, "{spend}");
    stack.shutdown().await;
}
