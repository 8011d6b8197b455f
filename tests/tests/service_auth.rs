//! Internal gRPC authentication, called the way an attacker on the internal network would: each
//! of routing, billing and logging directly, without the edge. No credential, a credential
//! signed with another secret and an expired one are all refused as `Unauthenticated`; health
//! checks stay open; a `reader` token reads spend but cannot create a key; and the edge, which
//! carries its own credential, keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::Duration;

use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_proto::billing::v1::{
    CreateKeyRequest, GetGenerationRequest, GetSpendRequest, ListTenantsRequest, ListUsageRequest,
};
use tollgate_proto::logging::v1::QueryLogsRequest;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_proto::routing::v1::ListModelsRequest;
use tollgate_proto::routing::v1::routing_client::RoutingClient;
use tollgate_server::{InternalKey, Role};
use tollgate_tests::{INTERNAL_SECRET, Stack, chat_body};
use tonic::transport::Channel;
use tonic::{Code, Request};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

async fn channel(url: &str) -> Channel {
    tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn token(secret: &str, role: Role) -> String {
    InternalKey::new(secret.as_bytes())
        .unwrap()
        .mint("service-auth-test", role, Duration::from_secs(300))
        .unwrap()
}

/// Signed with the right secret but expired an hour ago (well past the allowed clock skew).
fn expired() -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = serde_json::json!({
        "sub": "edge", "role": "service", "aud": "tollgate-internal",
        "iat": now - 7200, "exp": now - 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(INTERNAL_SECRET.as_bytes()),
    )
    .unwrap()
}

/// `msg` with `authorization: Bearer <token>` (or no credential at all).
fn req<T>(msg: T, token: Option<&str>) -> Request<T> {
    let mut r = Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

/// The credentials every service must refuse, by name.
fn bad_credentials() -> Vec<(&'static str, Option<String>)> {
    vec![
        ("no credential", None),
        (
            "another secret",
            Some(token("some-other-secret-0123456789abcdef", Role::Service)),
        ),
        ("expired", Some(expired())),
        ("garbage", Some("not-a-token".into())),
    ]
}

fn assert_refused<T: std::fmt::Debug>(
    what: &str,
    credential: &Option<String>,
    r: Result<T, tonic::Status>,
) {
    let status = r.expect_err(what);
    assert_eq!(status.code(), Code::Unauthenticated, "{what}: {status:?}");
    if let Some(t) = credential {
        assert!(
            !status.message().contains(t.as_str()),
            "{what}: the token is echoed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_refuses_callers_without_a_valid_credential_and_keeps_health_open() {
    let stack = Stack::start().await;
    let routing_url = stack.cfg.edge.routing_url.clone();
    let billing_url = stack.cfg.edge.billing_url.clone();
    let logging_url = stack.cfg.edge.logging_url.clone();
    let mut routing = RoutingClient::new(channel(&routing_url).await);
    let mut billing = BillingClient::new(channel(&billing_url).await);
    let mut logging = LoggingClient::new(channel(&logging_url).await);

    for (what, credential) in bad_credentials() {
        let t = credential.as_deref();
        assert_refused(
            &format!("routing, {what}"),
            &credential,
            routing.list_models(req(ListModelsRequest {}, t)).await,
        );
        assert_refused(
            &format!("billing ListTenants, {what}"),
            &credential,
            billing.list_tenants(req(ListTenantsRequest {}, t)).await,
        );
        assert_refused(
            &format!("billing CreateKey, {what}"),
            &credential,
            billing
                .create_key(req(CreateKeyRequest::default(), t))
                .await,
        );
        assert_refused(
            &format!("logging, {what}"),
            &credential,
            logging
                .query_logs(req(QueryLogsRequest::default(), t))
                .await,
        );
    }

    for url in [&routing_url, &billing_url, &logging_url] {
        let status = HealthClient::new(channel(url).await)
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .unwrap_or_else(|e| panic!("health of {url} without a credential: {e:?}"))
            .into_inner()
            .status;
        assert_eq!(status, 1, "{url} is SERVING");
    }

    // The right credential is let through.
    let service = token(INTERNAL_SECRET, Role::Service);
    billing
        .list_tenants(req(ListTenantsRequest {}, Some(&service)))
        .await
        .unwrap();
    routing
        .list_models(req(ListModelsRequest {}, Some(&service)))
        .await
        .unwrap();
    let logs = QueryLogsRequest {
        tenant_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    };
    logging.query_logs(req(logs, Some(&service))).await.unwrap();
    // Every refusal above is counted (the recorder is process-wide: at least these).
    let refused = stack.metric("tollgate_internal_auth_refused_total").await;
    let made = 4 * bad_credentials().len();
    assert!(refused >= made as f64, "{made} refusals, {refused} counted");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_token_reads_spend_and_usage_but_cannot_create_keys() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("finance-readable", false).await;
    let reader = token(INTERNAL_SECRET, Role::Reader);
    let mut billing = BillingClient::new(channel(&stack.cfg.edge.billing_url).await);

    let spend = GetSpendRequest {
        tenant_id: tenant.clone(),
        ..Default::default()
    };
    billing.get_spend(req(spend, Some(&reader))).await.unwrap();
    let usage = ListUsageRequest {
        tenant_id: tenant.clone(),
        ..Default::default()
    };
    billing.list_usage(req(usage, Some(&reader))).await.unwrap();
    // Allowed through authentication; the request simply names no generation.
    let generation = GetGenerationRequest {
        tenant_id: tenant.clone(),
        request_id: uuid::Uuid::now_v7().to_string(),
    };
    let missing = billing
        .get_generation(req(generation, Some(&reader)))
        .await
        .unwrap_err();
    assert_ne!(missing.code(), Code::PermissionDenied, "{missing:?}");
    assert_ne!(missing.code(), Code::Unauthenticated, "{missing:?}");

    let create = CreateKeyRequest {
        tenant_id: tenant.clone(),
        name: "stolen".into(),
        ..Default::default()
    };
    let denied = billing
        .create_key(req(create, Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    let denied = billing
        .list_tenants(req(ListTenantsRequest {}, Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");

    // A reader is for billing's queries only: routing and logging allow it nothing.
    let mut routing = RoutingClient::new(channel(&stack.cfg.edge.routing_url).await);
    let denied = routing
        .list_models(req(ListModelsRequest {}, Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_carries_its_credential_through_a_whole_request() {
    let stack = Stack::start().await;
    let tenant = stack.tenant("authenticated-stack", false).await;
    let (_, key) = stack.key(&tenant, 0, 0).await;
    let resp = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(&key)
        .json(&chat_body("mock", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    // Usage reached billing, over the authenticated edge → billing call.
    stack.wait_ledger(&tenant, 1).await;
    stack.shutdown().await;
}
