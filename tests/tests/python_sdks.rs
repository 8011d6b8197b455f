//! The official Anthropic and OpenAI Python SDKs (pinned in `scripts/python-sdks.sh`, which
//! `scripts/test.sh` runs) against the edge, changing nothing but base URL and key: every
//! pairing of SDK and provider answers plain and streamed, with usage equal to the ledger's;
//! tools, count_tokens, embeddings and errors come back as the SDKs expect.
//!
//! Needs the interpreter from `scripts/python-sdks.sh` (`TOLLGATE_PYTHON`, or its default
//! venv); without it the test fails and says how to get it, it is never skipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use tollgate_tests::Stack;
use tollgate_tests::python::run_script;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_sdks_work_unchanged_against_every_provider() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("python-sdks", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let v = run_script(
        "sdk_check.py",
        &[
            ("TOLLGATE_EDGE_URL", stack.edge_url().as_str()),
            ("TOLLGATE_KEY", key.as_str()),
        ],
    )
    .await;

    let mut requests = 0;
    let mut output_tokens = 0;
    for model in ["claude-mock", "mock", "gemini-mock", "bedrock-mock"] {
        let r = &v[format!("anthropic:{model}")];
        assert!(!r["text"].as_str().unwrap().is_empty(), "{model}: {r}");
        assert_eq!(r["stop_reason"], "end_turn", "{model}: {r}");
        assert!(r["input_tokens"].as_u64().unwrap() > 0, "{model}: {r}");
        assert!(
            !r["stream_text"].as_str().unwrap().is_empty(),
            "{model}: {r}"
        );
        assert_eq!(r["stream_stop_reason"], "end_turn", "{model}: {r}");
        output_tokens += r["output_tokens"].as_u64().unwrap();
        output_tokens += r["stream_output_tokens"].as_u64().unwrap();
        requests += 2;
    }
    assert_eq!(v["anthropic:tool_use"], serde_json::json!(["get_weather"]));
    assert!(v["anthropic:count_tokens"].as_u64().unwrap() > 0);
    assert_eq!(v["anthropic:error"]["status"], 404);
    assert_eq!(v["anthropic:error"]["type"], "not_found_error");
    requests += 1; // the tool call

    for model in [
        "mock",
        "claude-mock",
        "gemini-mock",
        "bedrock-mock",
        "azure-mock",
    ] {
        let r = &v[format!("openai:{model}")];
        assert!(!r["text"].as_str().unwrap().is_empty(), "{model}: {r}");
        assert!(r["prompt_tokens"].as_u64().unwrap() > 0, "{model}: {r}");
        assert!(
            !r["stream_text"].as_str().unwrap().is_empty(),
            "{model}: {r}"
        );
        let streamed = r["stream_completion_tokens"].as_u64().unwrap();
        assert!(streamed > 0, "{model}: streams are never billed as zero");
        output_tokens += r["completion_tokens"].as_u64().unwrap() + streamed;
        requests += 2;
    }
    assert_eq!(v["openai:embeddings"].as_array().unwrap().len(), 2);
    assert!(v["openai:embeddings"][0].as_u64().unwrap() > 0);
    assert_eq!(v["openai:gemini-embeddings"].as_array().unwrap().len(), 1);
    assert_eq!(v["openai:error"]["status"], 404);
    assert_eq!(v["openai:error"]["code"], "model_not_found");
    requests += 2; // embeddings

    // Every answered call is one ledger row, and the output the SDKs were told about is
    // exactly what was billed (the tool call's output is counted by the ledger only).
    let spend = stack.wait_ledger(&tenant, requests).await;
    let billed = spend["total"]["output_tokens"].as_u64().unwrap();
    assert!(
        billed >= output_tokens,
        "{billed} < {output_tokens}: {spend}"
    );
    assert_eq!(billed, stack.mock.stats().completion_tokens, "{spend}");
    stack.shutdown().await;
}
