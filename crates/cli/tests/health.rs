//! `tollgatectl health` against real HTTP and gRPC health servers on port 0.

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::StatusCode;
use axum::routing::get;
use clap::Parser;
use tokio_stream::wrappers::TcpListenerStream;
use tollgate_cli::{Cli, run};

async fn health(args: &[&str]) -> Result<String, String> {
    let mut full = vec!["tollgatectl", "health"];
    full.extend_from_slice(args);
    run(Cli::try_parse_from(full).unwrap())
        .await
        .map(|o| o.stdout)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn http_targets_are_healthy_on_2xx_only() {
    let app = axum::Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "routing down") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let ok = health(&[&format!("{base}/healthz")]).await.unwrap();
    assert!(ok.contains("200 OK"), "{ok}");
    let e = health(&[&format!("{base}/readyz")]).await.unwrap_err();
    assert!(e.contains("not healthy") && e.contains("503"), "{e}");
}

#[tokio::test]
async fn grpc_targets_follow_the_health_service() {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(
            "billing.v1.Billing",
            tonic_health::ServingStatus::NotServing,
        )
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    let target = format!("grpc://{addr}");

    let ok = health(&[&target]).await.unwrap();
    assert!(ok.contains("SERVING"), "{ok}");
    let e = health(&[&target, "--service", "billing.v1.Billing"])
        .await
        .unwrap_err();
    assert!(e.contains("NOT_SERVING"), "{e}");
    reporter
        .set_service_status("billing.v1.Billing", tonic_health::ServingStatus::Serving)
        .await;
    assert!(
        health(&[&target, "--service", "billing.v1.Billing"])
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn nothing_listening_is_unhealthy_and_bad_targets_are_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let e = health(&[&format!("grpc://{addr}"), "--timeout", "1"])
        .await
        .unwrap_err();
    assert!(e.contains("not healthy"), "{e}");
    let e = health(&[&format!("http://{addr}/healthz")])
        .await
        .unwrap_err();
    assert!(e.contains("not healthy"), "{e}");
    let e = health(&["localhost:8080"]).await.unwrap_err();
    assert!(e.contains("grpc://"), "{e}");
}
