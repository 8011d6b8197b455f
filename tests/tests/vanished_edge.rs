//! An edge that vanishes (SIGKILL: its sockets close, nothing of it runs any more) never sends
//! the usage of the calls it had in flight, nor of those it settled a moment before. Routing
//! sent every frame of those calls, so it bills them when the edge's connection closes; the
//! ledger's idempotence makes that free for every call the edge did record.
//!
//! A real edge cannot be killed inside this test process (its tasks would run their drops), so
//! the edge here is what routing sees of one: an authenticated gRPC connection making `Chat`
//! calls through a TCP proxy, which then cuts the connection (the kernel closing a killed
//! process's sockets) without the edge recording anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use tollgate_mock_provider::MockOptions;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_proto::routing::v1::{ChatCall, Identity, WireFormat};
use tollgate_server::{InternalKey, ServiceCredential};
use tollgate_tests::proxy::Proxy;
use tollgate_tests::{INTERNAL_SECRET, Stack, StackOptions};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

type Edge = RoutingClient<InterceptedService<Channel, ServiceCredential>>;

/// A fresh connection to routing at `addr`, authenticated as an edge.
async fn edge_connection(addr: std::net::SocketAddr) -> Edge {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let key = InternalKey::new(INTERNAL_SECRET.as_bytes()).unwrap();
    RoutingClient::with_interceptor(channel, ServiceCredential::new(key, "edge").unwrap())
}

fn call(request_id: &str, tenant: &str, key: &str, stream: bool) -> ChatCall {
    let body = serde_json::json!({
        "model": "mock",
        "stream": stream,
        "messages": [{"role": "user", "content": "Say hello to the gateway"}],
    });
    ChatCall {
        request_id: request_id.to_owned(),
        format: WireFormat::OpenaiChat as i32,
        body: serde_json::to_vec(&body).unwrap().into(),
        model: "mock".into(),
        stream,
        identity: Some(Identity {
            tenant_id: tenant.to_owned(),
            key_id: key.to_owned(),
            ..Identity::default()
        }),
        ..ChatCall::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_of_an_edge_that_vanished_are_billed_by_routing_once() {
    let stack = Stack::start_with(StackOptions {
        // 50 chunks 40 ms apart: a stream is still running when its edge goes.
        mock: MockOptions {
            chunk_delay: Duration::from_millis(40),
            chunks: 50,
            ..MockOptions::default()
        },
        ..StackOptions::default()
    })
    .await;
    let tenant = stack.tenant("vanished", false).await;
    let (key, _) = stack.key(&tenant, 0, 0).await;

    // An edge whose connection stays: its cancelled call is its own to bill, not routing's.
    let routing = stack.routing.as_ref().unwrap().addr;
    let mut alive = edge_connection(routing).await;
    let kept = uuid::Uuid::now_v7().to_string();
    let mut frames = alive
        .chat(call(&kept, &tenant, &key, true))
        .await
        .unwrap()
        .into_inner();
    frames.message().await.unwrap().unwrap();
    drop(frames);

    // The edge that dies: one call finished (usage frame received, never recorded), one
    // still streaming.
    let cut = Proxy::start(routing).await;
    let mut doomed = edge_connection(cut.addr).await;
    let finished = uuid::Uuid::now_v7().to_string();
    let mut frames = doomed
        .chat(call(&finished, &tenant, &key, false))
        .await
        .unwrap()
        .into_inner();
    let mut served = None;
    while let Some(frame) = frames.message().await.unwrap() {
        if let Some(Kind::Usage(u)) = frame.kind {
            served = Some(u);
        }
    }
    let served = served.expect("the finished call ended with a Usage frame");
    let streaming = uuid::Uuid::now_v7().to_string();
    let mut frames = doomed
        .chat(call(&streaming, &tenant, &key, true))
        .await
        .unwrap()
        .into_inner();
    let mut data = 0;
    while data < 3 {
        if let Some(Kind::Data(_)) = frames.message().await.unwrap().unwrap().kind {
            data += 1;
        }
    }
    cut.down(); // the connection closes: what a killed process does to its sockets
    drop(frames);

    let row = stack.ledger_row(&tenant, &finished).await;
    assert_eq!(row["outcome"], "completed", "{row}");
    assert_eq!(row["input_tokens"], served.input_tokens.to_string());
    assert_eq!(row["output_tokens"], served.output_tokens.to_string());
    assert_eq!(row["deployment"], "mock-primary");

    let row = stack.ledger_row(&tenant, &streaming).await;
    assert_eq!(row["outcome"], "client_cancelled", "{row}");
    assert_eq!(row["http_status"], "499");
    let input: u64 = row["input_tokens"].as_str().unwrap().parse().unwrap();
    let output: u64 = row["output_tokens"].as_str().unwrap().parse().unwrap();
    assert!(input > 0, "the prompt is billed: {row}");
    assert!(
        (1..50).contains(&output),
        "what was sent before the edge went is billed, not the whole answer: {row}"
    );

    // Both rows came from routing's backstop, and the call whose edge lives was not billed by
    // it: the ledger holds exactly the two.
    let ids = stack.ledger_request_ids(&tenant).await;
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(!ids.contains(&kept), "{ids:?}");
    drop((alive, doomed));
    stack.shutdown().await;
}
