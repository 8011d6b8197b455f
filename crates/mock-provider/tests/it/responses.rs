//! The Responses API on the mock: the Response object, the documented event sequence with
//! `sequence_number`, usage equal to the chat endpoint's for the same conversation, structured
//! output, function calls and faults.

use serde_json::{Value, json};
use tollgate_mock_provider::{MockOptions, MockServer};

use crate::{chat_body, client, start, start_with_chunks, with};

/// The conversation of `chat_body`, as a Responses request: instructions "be terse", then the
/// two user messages (prompt 19 tokens, as the chat endpoint counts it).
fn body(extra: Value) -> Value {
    with(
        json!({
            "model": "gpt-4o-mini",
            "instructions": "be terse",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "hello"}]},
                {"role": "user", "content": "what is  the answer"}
            ]
        }),
        extra,
    )
}

fn post(mock: &MockServer, b: &Value) -> reqwest::RequestBuilder {
    client()
        .post(format!("{}/responses", mock.base_url()))
        .bearer_auth("sk-test")
        .json(b)
}

/// (event name, data) of every event, checking the framing and that `sequence_number` counts
/// from 0; and the transport error that ended the body, if any.
async fn events(mut response: reqwest::Response) -> (Vec<(String, Value)>, bool) {
    let mut text = String::new();
    let broken = loop {
        match response.chunk().await {
            Ok(Some(b)) => text.push_str(std::str::from_utf8(&b).unwrap()),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    let mut out = Vec::new();
    for (i, raw) in text.split_terminator("\n\n").enumerate() {
        let (event, data) = raw
            .strip_prefix("event: ")
            .and_then(|r| r.split_once("\ndata: "))
            .unwrap_or_else(|| panic!("not `event: x\\ndata: y`: {raw:?}"));
        let data: Value = serde_json::from_str(data).unwrap();
        assert_eq!(data["type"], event, "event name is the data's type");
        assert_eq!(data["sequence_number"], i, "{raw}");
        out.push((event.to_owned(), data));
    }
    (out, broken)
}

#[tokio::test]
async fn a_whole_response_has_openais_shape_and_the_chat_endpoints_usage() {
    let mock = start_with_chunks(5).await;
    let r = post(&mock, &body(json!({}))).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["instructions"], "be terse");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["role"], "assistant");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "lorem ipsum dolor sit amet"
    );

    let chat: Value = client()
        .post(format!("{}/chat/completions", mock.base_url()))
        .json(&chat_body(json!({})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["usage"]["input_tokens"], chat["usage"]["prompt_tokens"]);
    assert_eq!(
        v["usage"]["output_tokens"],
        chat["usage"]["completion_tokens"]
    );
    assert_eq!(v["usage"]["total_tokens"], 19 + 5);
    assert_eq!(v["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(v["usage"]["output_tokens_details"]["reasoning_tokens"], 0);
    let stats = mock.stats();
    assert_eq!(stats.responses_requests, 1);
    assert_eq!(stats.prompt_tokens, 38);
}

#[tokio::test]
async fn a_stream_follows_the_documented_sequence_and_ends_with_usage() {
    let mock = start_with_chunks(3).await;
    let r = post(&mock, &body(json!({"stream": true})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (evs, broken) = events(r).await;
    assert!(!broken);
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(evs[0].1["response"]["status"], "in_progress");
    assert!(evs[0].1["response"]["usage"].is_null());
    let text: String = evs
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "lorem ipsum dolor");
    assert_eq!(evs[7].1["text"], text);
    let last = &evs[10].1["response"];
    assert_eq!(last["status"], "completed");
    assert_eq!(last["output"][0]["content"][0]["text"], text);
    assert_eq!(last["usage"]["input_tokens"], 19);
    assert_eq!(last["usage"]["output_tokens"], 3);
    assert_eq!(mock.stats().completion_tokens, 3);

    // The whole answer and the streamed one end with the same output and usage.
    let whole: Value = post(&mock, &body(json!({})))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(whole["output"][0]["content"], last["output"][0]["content"]);
    assert_eq!(whole["usage"], last["usage"]);
}

#[tokio::test]
async fn max_output_tokens_makes_the_response_incomplete() {
    let mock = start_with_chunks(16).await;
    let b = body(json!({"stream": true, "max_output_tokens": 2}));
    let (evs, _) = events(post(&mock, &b).send().await.unwrap()).await;
    let (name, last) = evs.last().unwrap();
    assert_eq!(name, "response.incomplete");
    assert_eq!(last["response"]["status"], "incomplete");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
    assert_eq!(last["response"]["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn a_json_schema_format_gets_json_valid_for_the_schema() {
    let mock = start_with_chunks(16).await;
    let format = json!({"type": "json_schema", "name": "weather", "strict": true, "schema": {
        "type": "object", "additionalProperties": false,
        "required": ["temperature_c", "sky"],
        "properties": {"temperature_c": {"type": "number"}, "sky": {"type": "string", "enum": ["clear", "rain"]}}}});
    let b = body(json!({"stream": true, "text": {"format": format}}));
    let (evs, _) = events(post(&mock, &b).send().await.unwrap()).await;
    let text: String = evs
        .iter()
        .filter(|(n, _)| n == "response.output_text.delta")
        .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
        .collect();
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert!(answer["temperature_c"].is_number());
    assert_eq!(answer["sky"], "clear");
    let last = &evs.last().unwrap().1["response"];
    assert_eq!(
        last["text"]["format"]["name"], "weather",
        "the format is echoed"
    );
}

#[tokio::test]
async fn a_function_tool_is_called_with_arguments_for_its_schema() {
    let mock = start(MockOptions::default()).await;
    let tool = json!({"type": "function", "name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}});
    let b = body(json!({"tools": [tool], "tool_choice": "required", "stream": true}));
    let (evs, _) = events(post(&mock, &b).send().await.unwrap()).await;
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let args: String = evs[3..5]
        .iter()
        .map(|(_, v)| v["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"city": "lorem"})
    );
    let item = &evs.last().unwrap().1["response"]["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_weather");
    assert_eq!(item["arguments"], args);
    assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(
        evs.last().unwrap().1["response"]["usage"]["output_tokens"],
        8
    );
}

#[tokio::test]
async fn faults_apply_as_on_the_chat_endpoint() {
    let mock = start(MockOptions {
        chunks: 6,
        disconnect_after: Some(2),
        ..MockOptions::default()
    })
    .await;
    let (evs, broken) = events(
        post(&mock, &body(json!({"stream": true})))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(broken, "the connection is reset");
    assert_eq!(evs.last().unwrap().0, "response.output_text.delta");
    assert!(!evs.iter().any(|(n, _)| n == "response.completed"));
    assert_eq!(mock.stats().completion_tokens, 2);

    let r = post(&mock, &body(json!({})))
        .header("x-mock-error-status", "429")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"].is_string());

    let r = post(&mock, &json!({"model": "m"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "input");
}
