//! One trace per request across the services: the client's W3C `traceparent` is continued by
//! the edge, carried to routing in gRPC metadata, and into billing's and logging's batches inside
//! the usage event and the log record. Spans are exported over OTLP to a collector in this test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tollgate_tests::{Stack, chat_body};

/// (trace id, span name) of every exported span.
type Seen = Arc<Mutex<Vec<(Vec<u8>, String)>>>;

#[derive(Clone, Default)]
struct Collector {
    spans: Seen,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    spans.push((s.trace_id, s.name));
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_across_edge_routing_billing_and_logging() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = collector.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(server))
            .serve_with_incoming(tokio_stream_listener(listener))
            .await
            .unwrap();
    });
    let telemetry = tollgate_telemetry::init(
        "tollgate-tests",
        &tollgate_config::TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            log_filter: "info".into(),
            log_format: tollgate_config::LogFormat::Json,
            sample_ratio: 1.0,
            metrics_listen: None,
        },
    )
    .unwrap();

    let stack = Stack::start().await;
    let tenant = stack.tenant("traced", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(&key)
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&chat_body("mock", true))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let _ = r.text().await.unwrap();
    stack.wait_ledger(&tenant, 1).await;
    // Give the log batch time to land, then stop everything and flush the exporter.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.shutdown().await;
    telemetry.shutdown();

    let want: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let names: Vec<String> = collector
        .spans
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == want)
        .map(|(_, n)| n.clone())
        .collect();
    for expected in [
        "http",
        "chat_completions",
        "rpc",
        "usage.committed",
        "log.stored",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "span `{expected}` missing from the request's trace; got {names:?}"
        );
    }
}

fn tokio_stream_listener(
    l: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(l, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}
