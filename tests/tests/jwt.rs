//! JWT callers end to end: an edge configured with an issuer whose JWKS is served by a real
//! HTTP server in this test accepts the issuer's tokens with no API key, bills them under the
//! tenant (and team, and user) the token maps to, and refuses a token naming another tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_config::JwtIssuerConfig;
use tollgate_tests::{Stack, chat_body};

const RSA1: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa1.pem");
const ISS: &str = "https://login.acme.example/";

fn key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap()
}

/// Serve `{"keys": [k1]}` on port 0; returns the URL and a fetch counter.
async fn serve_jwks() -> (String, Arc<AtomicU64>) {
    let mut jwk = Jwk::from_encoding_key(&key(), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some("k1".into());
    let body = json!({ "keys": [jwk] });
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            h.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { axum::Json(body) }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, hits)
}

fn token(tenant: &str, team: &str, exp_in: i64) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".into());
    let claims = json!({
        "iss": ISS, "aud": "tollgate", "sub": "alice@acme.example",
        "tid": tenant, "team": team, "exp": now + exp_in, "iat": now,
    });
    jsonwebtoken::encode(&h, &claims, &key()).unwrap()
}

async fn chat(stack: &Stack, edge: &str, bearer: &str) -> (StatusCode, Value) {
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(bearer)
        .json(&chat_body("mock", false))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwt_caller_is_served_and_billed_under_its_tenant_and_cannot_act_for_another() {
    let mut stack = Stack::start().await;
    let acme = stack.tenant("acme", false).await;
    let other = stack.tenant("other", false).await;
    let team = stack
        .admin(
            reqwest::Method::POST,
            &format!("/admin/v1/tenants/{acme}/teams"),
            Some(json!({"name": "research"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (jwks_url, fetches) = serve_jwks().await;

    // An edge that trusts acme's IdP: the tenant comes from the `tid` claim but only acme is
    // allowed for this issuer.
    stack.cfg.jwt.issuers = vec![JwtIssuerConfig {
        issuer: ISS.into(),
        audiences: vec!["tollgate".into()],
        jwks_url: Some(jwks_url),
        algorithms: vec!["RS256".into()],
        tenant_claim: Some("tid".into()),
        allowed_tenants: vec![acme.clone()],
        team_claim: Some("team".into()),
        ..JwtIssuerConfig::default()
    }];
    stack.cfg.validate().unwrap();
    let edge = stack.add_edge().await;
    // The edge fetches the JWKS at start, in the background (it never blocks start-up on the
    // IdP). Once the fetch has begun, a request waits for it rather than fetching again.
    while fetches.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (status, body) = chat(&stack, &edge, &token(&acme, &team, 600)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{body}"
    );

    let spend = stack.wait_ledger(&acme, 1).await;
    assert!(
        spend["total"]["output_tokens"].as_u64().unwrap() > 0,
        "{spend}"
    );
    let by_team = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/tenants/{acme}/spend?group_by=team"),
            None,
        )
        .await;
    assert_eq!(by_team["rows"][0]["group"], team.as_str(), "{by_team}");
    let by_key = stack
        .admin(
            reqwest::Method::GET,
            &format!("/admin/v1/tenants/{acme}/spend?group_by=key"),
            None,
        )
        .await;
    assert!(
        by_key["rows"][0]["group"]
            .as_str()
            .unwrap()
            .starts_with("jwt:"),
        "{by_key}"
    );

    // The same IdP's token naming another tenant is refused, and nothing is billed there.
    let (status, body) = chat(&stack, &edge, &token(&other, "", 600)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "invalid_token", "{body}");
    // Expired tokens and garbage are refused with the same code; tokens never leak back.
    let expired = token(&acme, &team, -3600);
    let (status, body) = chat(&stack, &edge, &expired).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_token");
    assert!(!body.to_string().contains(&expired));
    let (status, body) = chat(&stack, &edge, "not.a.jwt").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "invalid_token");
    // API keys keep working on the same edge.
    let (_, secret) = stack.key(&acme, 0, 0).await;
    assert_eq!(chat(&stack, &edge, &secret).await.0, StatusCode::OK);

    stack.wait_ledger(&acme, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stack.ledger_rows(&other).await, 0);
    // Keys came from the start-up fetch: no fetch per request.
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_idp_is_a_503_never_a_401() {
    let mut stack = Stack::start().await;
    let acme = stack.tenant("acme", false).await;
    // A port nobody listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", dead.local_addr().unwrap());
    drop(dead);
    stack.cfg.jwt.issuers = vec![JwtIssuerConfig {
        issuer: ISS.into(),
        audiences: vec!["tollgate".into()],
        jwks_url: Some(url),
        tenant_id: Some(acme.clone()),
        ..JwtIssuerConfig::default()
    }];
    stack.cfg.validate().unwrap();
    let edge = stack.add_edge().await;
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(token(&acme, "", 600))
        .json(&chat_body("mock", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
    assert_eq!(stack.ledger_rows(&acme).await, 0);
    stack.shutdown().await;
}
