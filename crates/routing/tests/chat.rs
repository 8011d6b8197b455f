//! Routing end to end: a real routing server on port 0, called with the generated gRPC client,
//! in front of the mock provider (a real HTTP server) or tiny raw upstreams for faults the mock
//! cannot stage.

// Helpers outside `#[test]` fns count as non-test code for clippy; they are test code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tollgate_mock_provider::{MockOptions, MockServer};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{FailureKind, ListModelsRequest, Outcome, Policy};

use support::*;

fn opts() -> MockOptions {
    MockOptions {
        chunks: 5,
        api_key: Some(PROVIDER_KEY.into()),
        ..MockOptions::default()
    }
}

async fn one_mock(opts: MockOptions, stream_usage: bool) -> (MockServer, Routing) {
    let mock = MockServer::start(opts).await.unwrap();
    let toml = provider("mock", &mock.base_url(), stream_usage)
        + &model("m", &["m-alias"], &[("mock", "mock-up-1", 1)]);
    (mock, start(&toml).await)
}

#[tokio::test]
async fn plain_chat_is_start_data_usage_with_the_providers_counts() {
    let (_mock, mut r) = one_mock(opts(), true).await;
    let f = frames(&mut r, call("m-alias", false, false)).await;
    assert_eq!(f.len(), 3, "{f:?}");
    let Kind::Start(s) = &f[0] else {
        panic!("{f:?}")
    };
    assert_eq!(s.status, 200);
    assert_eq!(s.content_type, "application/json");
    assert_eq!(s.deployment, "mock/mock-up-1");
    assert_eq!(s.provider, "mock");
    assert_eq!(s.model, "m");

    let body: serde_json::Value = serde_json::from_str(&data(&f)).unwrap();
    assert_eq!(body["object"], "chat.completion");
    // The client sees the name it asked for, never the deployment's.
    assert_eq!(body["model"], "m-alias");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "lorem ipsum dolor sit amet"
    );

    let u = usage(&f);
    // Mock: (2 words + 3) + 3 prompt tokens, 5 completion tokens.
    assert_eq!((u.input_tokens, u.output_tokens), (8, 5));
    assert_eq!(u.outcome, Outcome::Completed as i32);
    assert!(u.reported_by_provider);
    assert_eq!(u.model, "m");
    assert_eq!(u.upstream_model, "mock-up-1");
    assert_eq!(u.deployment, "mock/mock-up-1");
    assert_eq!(u.provider, "mock");
}

#[tokio::test]
async fn stream_without_include_usage_hides_the_usage_chunk_but_still_reports_it() {
    let (_mock, mut r) = one_mock(opts(), true).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let Kind::Start(s) = &f[0] else {
        panic!("{f:?}")
    };
    assert_eq!(s.content_type, "text/event-stream");
    let sse = data(&f);
    assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
    let events = events(&sse);
    assert!(events.iter().all(|e| e["model"] == "m"), "{sse}");
    assert!(
        events
            .iter()
            .all(|e| e.get("usage").is_none_or(|u| u.is_null())),
        "the client did not ask for usage: {sse}"
    );
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "lorem ipsum dolor sit amet");

    let progress: Vec<u64> = f
        .iter()
        .filter_map(|k| match k {
            Kind::Progress(p) => Some(p.output_tokens),
            _ => None,
        })
        .collect();
    assert!(!progress.is_empty(), "{f:?}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]));

    let u = usage(&f);
    assert_eq!((u.input_tokens, u.output_tokens), (8, 5));
    assert!(u.reported_by_provider);
    assert_eq!(u.outcome, Outcome::Completed as i32);
}

#[tokio::test]
async fn stream_with_include_usage_keeps_the_usage_chunk() {
    let (_mock, mut r) = one_mock(opts(), true).await;
    let f = frames(&mut r, call("m", true, true)).await;
    let events = events(&data(&f));
    let last = events.last().unwrap();
    assert_eq!(last["choices"], serde_json::json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 8);
    assert_eq!(last["usage"]["completion_tokens"], 5);
    assert_eq!(usage(&f).output_tokens, 5);
}

#[tokio::test]
async fn a_provider_without_stream_usage_is_estimated() {
    let (_mock, mut r) = one_mock(opts(), false).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let u = usage(&f);
    assert!(!u.reported_by_provider);
    assert_eq!(u.outcome, Outcome::Completed as i32);
    assert!(u.output_tokens >= 5, "{u:?}");
    assert!(u.input_tokens > 0, "{u:?}");
}

#[tokio::test]
async fn unknown_model_is_a_failure_in_openais_words() {
    let (mock, mut r) = one_mock(opts(), true).await;
    let f = frames(&mut r, call("gpt-9", false, false)).await;
    let fail = failure(&f);
    assert_eq!(fail.kind, FailureKind::UnknownModel as i32);
    assert_eq!(
        fail.message,
        "The model `gpt-9` does not exist or you do not have access to it."
    );
    assert_eq!(f.len(), 2);
    assert_eq!(usage(&f).outcome, Outcome::Rejected as i32);
    assert_eq!(mock.stats().requests, 0);
}

#[tokio::test]
async fn a_model_outside_the_policy_is_refused() {
    let (mock, mut r) = one_mock(opts(), true).await;
    let mut c = call("m", false, false);
    c.policy = Some(Policy {
        allowed_models: vec!["other".into()],
    });
    let f = frames(&mut r, c.clone()).await;
    assert_eq!(failure(&f).kind, FailureKind::ModelNotAllowed as i32);
    assert_eq!(mock.stats().requests, 0);
    // Allowed by its alias.
    c.policy = Some(Policy {
        allowed_models: vec!["m-alias".into()],
    });
    assert_eq!(
        usage(&frames(&mut r, c).await).outcome,
        Outcome::Completed as i32
    );
}

#[tokio::test]
async fn rate_limited_provider_becomes_rate_limited_with_retry_after() {
    let o = MockOptions {
        error_rate: 1.0,
        error_status: 429,
        ..opts()
    };
    let (_mock, mut r) = one_mock(o, true).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let fail = failure(&f);
    assert_eq!(fail.kind, FailureKind::UpstreamRateLimited as i32);
    assert_eq!(fail.retry_after_ms, 1_000);
    assert_eq!(fail.upstream_status, 429);
    assert_eq!(f.len(), 2, "no Start, no Data: {f:?}");
    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Failed as i32);
    assert_eq!(u.deployment, "mock/mock-up-1");
}

#[tokio::test]
async fn a_providers_400_is_relayed_as_invalid_request() {
    let (_mock, mut r) = one_mock(opts(), true).await;
    let mut c = call("m", false, false);
    c.body = br#"{"model":"m","messages":[]}"#.to_vec().into();
    let fail = failure(&frames(&mut r, c).await);
    assert_eq!(fail.kind, FailureKind::InvalidRequest as i32);
    assert_eq!(fail.upstream_status, 400);
    assert!(
        fail.message.starts_with("Invalid 'messages': empty array."),
        "{}",
        fail.message
    );
}

#[tokio::test]
async fn wrong_provider_credentials_are_an_upstream_error_without_the_key() {
    let o = MockOptions {
        api_key: Some("sk-some-other-key".into()),
        ..opts()
    };
    let (_mock, mut r) = one_mock(o, true).await;
    let fail = failure(&frames(&mut r, call("m", false, false)).await);
    assert_eq!(fail.kind, FailureKind::UpstreamError as i32);
    assert_eq!(fail.upstream_status, 401);
    assert_eq!(
        fail.message,
        "The provider rejected the gateway's credentials."
    );
}

#[tokio::test]
async fn mid_stream_disconnect_is_an_error_event_then_failed_usage_with_partial_counts() {
    let o = MockOptions {
        chunks: 10,
        disconnect_after: Some(3),
        ..opts()
    };
    let (_mock, mut r) = one_mock(o, true).await;
    let f = frames(&mut r, call("m", true, false)).await;
    let sse = data(&f);
    assert!(!sse.contains("[DONE]"), "{sse}");
    let events = events(&sse);
    let last = events.last().unwrap();
    assert_eq!(last["error"]["type"], "server_error", "{sse}");
    assert_eq!(last["error"]["code"], "upstream_error");
    let text: String = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "lorem ipsum dolor");

    let u = usage(&f);
    assert_eq!(u.outcome, Outcome::Failed as i32);
    assert!(!u.reported_by_provider);
    assert_eq!(u.output_tokens, 3);
    assert!(u.input_tokens > 0);
}

#[tokio::test]
async fn connect_error_retries_on_the_other_deployment() {
    let mock = MockServer::start(opts()).await.unwrap();
    let toml = provider("dead", &dead_address().await, true)
        + &provider("live", &mock.base_url(), true)
        + &model("m", &[], &[("dead", "x", 100), ("live", "y", 1)]);
    let mut r = start(&toml).await;
    for _ in 0..5 {
        let f = frames(&mut r, call("m", true, false)).await;
        let u = usage(&f);
        assert_eq!(u.outcome, Outcome::Completed as i32, "{f:?}");
        assert_eq!(u.deployment, "live/y");
        assert_eq!(u.output_tokens, 5);
    }
    assert_eq!(mock.stats().chat_requests, 5);
}

#[tokio::test]
async fn server_error_retries_once_then_fails() {
    let broken = MockServer::start(MockOptions {
        error_rate: 1.0,
        error_status: 503,
        ..opts()
    })
    .await
    .unwrap();
    let good = MockServer::start(opts()).await.unwrap();
    let toml = provider("broken", &broken.base_url(), true)
        + &provider("good", &good.base_url(), true)
        + &model("m", &[], &[("broken", "x", 100), ("good", "y", 1)])
        + &model("solo", &[], &[("broken", "x", 1)]);
    let mut r = start(&toml).await;
    let u = usage(&frames(&mut r, call("m", false, false)).await);
    assert_eq!(u.outcome, Outcome::Completed as i32);
    assert_eq!(u.deployment, "good/y");

    let f = frames(&mut r, call("solo", false, false)).await;
    let fail = failure(&f);
    assert_eq!(fail.kind, FailureKind::UpstreamError as i32);
    assert_eq!(fail.upstream_status, 503);
    assert!(
        !fail.message.contains("overloaded"),
        "5xx text is not relayed"
    );
}

#[tokio::test]
async fn nothing_listening_and_no_other_deployment_is_unavailable() {
    let toml =
        provider("dead", &dead_address().await, true) + &model("m", &[], &[("dead", "x", 1)]);
    let mut r = start(&toml).await;
    let f = frames(&mut r, call("m", false, false)).await;
    let fail = failure(&f);
    assert_eq!(fail.kind, FailureKind::UpstreamUnavailable as i32);
    assert!(!fail.message.contains("127.0.0.1"), "{}", fail.message);
    assert_eq!(usage(&f).outcome, Outcome::Failed as i32);
}

#[tokio::test]
async fn the_callers_deadline_bounds_the_upstream_call() {
    let o = MockOptions {
        latency: Duration::from_secs(5),
        ..opts()
    };
    let (_mock, mut r) = one_mock(o, true).await;
    let mut c = call("m", false, false);
    c.deadline_ms = 200;
    let started = std::time::Instant::now();
    let f = frames(&mut r, c).await;
    assert_eq!(failure(&f).kind, FailureKind::UpstreamTimeout as i32);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn list_models_has_names_and_aliases() {
    let (_mock, mut r) = one_mock(opts(), true).await;
    let models = r
        .client
        .list_models(ListModelsRequest {})
        .await
        .unwrap()
        .into_inner()
        .models;
    let ids: Vec<_> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["m", "m-alias"]);
    assert!(
        models
            .iter()
            .all(|m| m.owned_by == "tollgate" && m.created > 0)
    );
}

/// An upstream that streams three content chunks, 20 ms apart, then goes silent (as a slow model
/// does) and reports when the gateway closes the connection. Silence matters: only routing
/// watching the edge, not a failed send, can notice the cancellation then.
async fn endless_upstream() -> (String, oneshot::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = oneshot::channel();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (mut rd, mut wr) = sock.into_split();
        let mut buf = [0u8; 4096];
        let _ = rd.read(&mut buf).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        wr.write_all(head.as_bytes()).await.unwrap();
        let event = "data: {\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tick\"}}]}\n\n";
        let chunk = format!("{:x}\r\n{event}\r\n", event.len());
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut sent = 0;
        loop {
            tokio::select! {
                n = rd.read(&mut buf) => if matches!(n, Ok(0) | Err(_)) { break },
                _ = tick.tick(), if sent < 3 => {
                    sent += 1;
                    if wr.write_all(chunk.as_bytes()).await.is_err() { break }
                }
            }
        }
        let _ = closed_tx.send(());
    });
    (format!("http://{addr}/v1"), closed_rx)
}

#[tokio::test]
async fn a_cancelled_call_closes_the_upstream_connection() {
    let (base, closed) = endless_upstream().await;
    let toml = provider("endless", &base, true) + &model("m", &[], &[("endless", "x", 1)]);
    let mut r = start(&toml).await;
    let mut c = call("m", true, false);
    c.deadline_ms = 60_000;
    let mut stream = r.client.chat(c).await.unwrap().into_inner();
    let mut data_frames = 0;
    while data_frames < 3 {
        match stream.message().await.unwrap().unwrap().kind.unwrap() {
            Kind::Data(d) => {
                assert!(String::from_utf8_lossy(&d).contains("tick"));
                data_frames += 1;
            }
            Kind::Start(_) | Kind::Progress(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    drop(stream);
    tokio::time::timeout(Duration::from_secs(5), closed)
        .await
        .expect("routing kept reading upstream after the edge went away")
        .unwrap();
}
