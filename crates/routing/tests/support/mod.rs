//! Starting routing on port 0 against real upstream servers, and reading its frames.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tollgate_config::Config;
use tollgate_mock_provider::{MockOptions, MockServer};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, WireFormat};
use tonic::transport::Channel;

pub const PROVIDER_KEY: &str = "sk-provider-test-key";

pub struct Routing {
    pub client: RoutingClient<Channel>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Routing {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A provider entry for `base_url`.
pub fn provider(name: &str, base_url: &str, stream_usage: bool) -> String {
    format!(
        "[[providers]]\nname = \"{name}\"\nkind = \"openai\"\nbase_url = \"{base_url}\"\napi_key = \"{PROVIDER_KEY}\"\nstream_usage = {stream_usage}\n"
    )
}

/// A model served by `deployments` (`(provider, upstream model, weight)`).
pub fn model(name: &str, aliases: &[&str], deployments: &[(&str, &str, u32)]) -> String {
    let aliases: Vec<String> = aliases.iter().map(|a| format!("\"{a}\"")).collect();
    let deps: Vec<String> = deployments
        .iter()
        .map(|(p, m, w)| format!("{{ provider = \"{p}\", model = \"{m}\", weight = {w} }}"))
        .collect();
    format!(
        "[[models]]\nname = \"{name}\"\naliases = [{}]\ndeployments = [{}]\nprice = {{ input = \"1\", output = \"2\" }}\n",
        aliases.join(", "),
        deps.join(", ")
    )
}

pub async fn start(toml: &str) -> Routing {
    let mut cfg = Config::from_toml(toml).unwrap();
    // Routing's own usage spool (the backstop for vanished edges), one per instance.
    cfg.routing.usage.spool_dir = tempfile::tempdir().unwrap().keep();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        tollgate_routing::run(cfg, listener, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Routing {
        client: connect(addr).await,
        stop: Some(tx),
    }
}

async fn connect(addr: SocketAddr) -> RoutingClient<Channel> {
    for _ in 0..50 {
        if let Ok(c) = RoutingClient::connect(format!("http://{addr}")).await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("routing did not start on {addr}");
}

pub fn body(model: &str, stream: bool, include_usage: bool) -> String {
    let opts = if include_usage {
        r#","stream_options":{"include_usage":true}"#
    } else {
        ""
    };
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":"hello there"}}],"stream":{stream}{opts}}}"#
    )
}

pub fn call(model: &str, stream: bool, include_usage: bool) -> ChatCall {
    ChatCall {
        request_id: "0190b4a6-0000-7000-8000-000000000001".into(),
        format: WireFormat::OpenaiChat as i32,
        body: body(model, stream, include_usage).into_bytes().into(),
        model: model.into(),
        stream,
        identity: None,
        policy: None,
        deadline_ms: 10_000,
        include_usage,
        directory: 0,
        client_headers: Default::default(),
        content_type: String::new(),
    }
}

/// Every frame of one call, in order.
pub async fn frames(r: &mut Routing, call: ChatCall) -> Vec<Kind> {
    frames_from(&mut r.client, call).await
}

/// Every frame of one call made with `client`, in order.
pub async fn frames_from(client: &mut RoutingClient<Channel>, call: ChatCall) -> Vec<Kind> {
    let mut stream = client.chat(call).await.unwrap().into_inner();
    let mut out = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("routing stalled")
        .unwrap()
    {
        out.push(frame.kind.unwrap());
    }
    out
}

/// The Data frames concatenated, as the client would read them.
pub fn data(frames: &[Kind]) -> String {
    frames
        .iter()
        .filter_map(|f| match f {
            Kind::Data(d) => Some(String::from_utf8(d.to_vec()).unwrap()),
            _ => None,
        })
        .collect()
}

pub fn usage(frames: &[Kind]) -> rpc::Usage {
    let usages: Vec<_> = frames
        .iter()
        .filter_map(|f| match f {
            Kind::Usage(u) => Some(u.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(usages.len(), 1, "exactly one Usage frame: {frames:?}");
    assert!(
        matches!(frames.last(), Some(Kind::Usage(_))),
        "Usage comes last"
    );
    usages.into_iter().next().unwrap()
}

pub fn failure(frames: &[Kind]) -> rpc::Failure {
    match frames.first() {
        Some(Kind::Failure(f)) => f.clone(),
        other => panic!("expected a Failure first, got {other:?}"),
    }
}

/// The `data:` payloads of an SSE text.
pub fn events(sse: &str) -> Vec<serde_json::Value> {
    sse.split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

/// An address nothing listens on.
pub async fn dead_address() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/v1")
}

/// An upstream that answers every request with a 200 `text/event-stream` made of `pieces`, each
/// written separately (5 ms apart, so each reaches routing as its own read), then ends cleanly.
pub async fn scripted_upstream(pieces: Vec<Vec<u8>>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let pieces = pieces.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                let _ = sock.write_all(head.as_bytes()).await;
                for p in pieces {
                    let mut chunk = format!("{:x}\r\n", p.len()).into_bytes();
                    chunk.extend_from_slice(&p);
                    chunk.extend_from_slice(b"\r\n");
                    let _ = sock.write_all(&chunk).await;
                    let _ = sock.flush().await;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                let _ = sock.write_all(b"0\r\n\r\n").await;
            });
        }
    });
    format!("http://{addr}/v1")
}

// --- several mock deployments ---

pub fn opts() -> MockOptions {
    MockOptions {
        chunks: 3,
        api_key: Some(PROVIDER_KEY.into()),
        ..MockOptions::default()
    }
}

pub async fn mock(o: MockOptions) -> MockServer {
    MockServer::start(o).await.unwrap()
}

pub fn failing(status: u16) -> MockOptions {
    MockOptions {
        error_rate: 1.0,
        error_status: status,
        ..opts()
    }
}

/// Providers `a` and `b` in front of two mocks, and model `m` with `deployments` (TOML inline
/// tables), plus `extra` TOML (more models, `[routing]`).
pub fn two(
    a: &MockServer,
    b: &MockServer,
    model_extra: &str,
    deployments: &str,
    extra: &str,
) -> String {
    format!(
        "{}{}[[models]]\nname = \"m\"\n{model_extra}\ndeployments = [{deployments}]\nprice = {{ input = \"1\", output = \"2\" }}\n{extra}",
        provider("a", &a.base_url(), true),
        provider("b", &b.base_url(), true),
    )
}

pub const AB: &str = r#"{ name = "da", provider = "a", model = "up" }, { name = "db", provider = "b", model = "up" }"#;

pub fn start_frame(f: &[Kind]) -> &rpc::Start {
    match f.first() {
        Some(Kind::Start(s)) => s,
        other => panic!("expected Start, got {other:?}"),
    }
}

pub fn with_body(mut c: ChatCall, body: &str) -> ChatCall {
    c.body = body.to_owned().into_bytes().into();
    c
}

/// `n` calls from `workers` concurrent clients; every one must succeed. Returns the
/// deployments that served them.
pub async fn served(r: &Routing, model: &str, n: usize, workers: usize) -> Vec<String> {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let mut client = r.client.clone();
        let model = model.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in (w..n).step_by(workers) {
                let mut s = client
                    .chat(call(&model, false, false))
                    .await
                    .unwrap()
                    .into_inner();
                let mut frames = Vec::new();
                while let Some(f) = s.message().await.unwrap() {
                    frames.push(f.kind.unwrap());
                }
                got.push(start_frame(&frames).deployment.clone());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
