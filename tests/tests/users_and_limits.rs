//! Users, limits at every scope and tenant admins, end to end: users and limits are managed
//! through the admin API, reach running edges by NOTIFY (no restart), and admission enforces
//! them in its one Redis round trip; spend is grouped by user; a JWT with the admin role manages
//! its own tenant only; the OpenAPI document is served.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tollgate_config::{JwtIssuerConfig, SecretRef, StaticKeyConfig};
use tollgate_tests::{ADMIN_TOKEN, Stack, chat_body};

const RSA1: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa1.pem");
const RSA1_PUB: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa1.pub");
const ISS: &str = "https://login.users-and-limits.example/";
const ADMIN_ROLE: &str = "tollgate-admin";

/// Any call to `edge` with `bearer`; returns the status and the JSON body (Null if none).
async fn call(
    stack: &Stack,
    edge: &str,
    method: Method,
    path: &str,
    bearer: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = stack
        .http()
        .request(method, format!("{edge}{path}"))
        .bearer_auth(bearer);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One chat request; returns the status, the `x-ratelimit-limit-requests` header and the body.
async fn chat(stack: &Stack, bearer: &str, model: &str) -> (StatusCode, Option<String>, Value) {
    let r = stack
        .http()
        .post(format!("{}/v1/chat/completions", stack.edge_url()))
        .bearer_auth(bearer)
        .json(&chat_body(model, false))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let limit = r
        .headers()
        .get("x-ratelimit-limit-requests")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, limit, r.json().await.unwrap_or(Value::Null))
}

/// A key created through the admin API with extra fields; waits until every edge accepts it.
async fn key_with(stack: &Stack, tenant: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": "test"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let k = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{tenant}/keys"),
            Some(body),
        )
        .await;
    let secret = k["secret"].as_str().unwrap().to_owned();
    stack.wait_key_works(&stack.edge_url(), &secret, true).await;
    (k["key"]["id"].as_str().unwrap().to_owned(), secret)
}

/// Exact decimal USD ("0.000123") as integer pico-dollars.
fn picos(usd: &str) -> i128 {
    let (int, frac) = usd.split_once('.').unwrap_or((usd, ""));
    assert!(frac.len() <= 12, "{usd}");
    let frac = format!("{frac:0<12}");
    int.parse::<i128>().unwrap() * 1_000_000_000_000 + frac.parse::<i128>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_limit_holds_across_the_users_keys_and_spend_groups_by_user() {
    let stack = Stack::start().await;
    let edge = stack.edge_url();
    let acme = stack.tenant("acme", false).await;
    let users = format!("/admin/v1/tenants/{acme}/users");

    // Bad input is a 400 naming the problem, never a 500.
    let (status, body) = call(
        &stack,
        &edge,
        Method::POST,
        &users,
        ADMIN_TOKEN,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "invalid_request", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("external_id"),
        "{body}"
    );

    let ada = stack
        .admin(
            Method::POST,
            &users,
            Some(json!({"external_id": "ada", "name": "Ada"})),
        )
        .await;
    let uid = ada["id"].as_str().unwrap().to_owned();
    assert_eq!(ada["disabled"], false, "{ada}");
    let (status, body) = call(
        &stack,
        &edge,
        Method::POST,
        &users,
        ADMIN_TOKEN,
        Some(json!({"external_id": "ada"})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("already_exists")),
        "{body}"
    );

    // Three requests a minute for the user, whichever of its keys it uses.
    let limit = stack
        .admin(
            Method::PUT,
            &format!("/admin/v1/tenants/{acme}/limits"),
            Some(json!({"scope": "user", "scope_id": uid, "rpm": 3})),
        )
        .await;
    assert_eq!(
        (limit["scope"].as_str(), limit["rpm"].as_u64()),
        (Some("user"), Some(3)),
        "{limit}"
    );
    // Created after the limit: once an edge accepts the keys, its snapshot has the limit too.
    let (k1_id, k1) = key_with(&stack, &acme, json!({"user_id": uid})).await;
    let (_, k2) = key_with(&stack, &acme, json!({"user_id": uid})).await;
    let (_, other) = key_with(&stack, &acme, json!({})).await;
    let got = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/keys/{k1_id}"),
            None,
        )
        .await;
    assert_eq!(got["user_id"], uid.as_str(), "{got}");

    for secret in [&k1, &k2, &k1] {
        let (status, limit, body) = chat(&stack, secret, "mock").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(limit.as_deref(), Some("3"));
    }
    let (status, _, body) = chat(&stack, &k2, "mock").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("user"),
        "{body}"
    );
    // A key of nobody in particular is not held by the user's limit.
    let (status, _, body) = chat(&stack, &other, "mock").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Spend by user: the user's group equals the sum of the ledger rows carrying its id.
    stack.wait_ledger(&acme, 4).await;
    let spend = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/spend?group_by=user"),
            None,
        )
        .await;
    let rows = spend["rows"].as_array().unwrap();
    let mine = rows
        .iter()
        .find(|r| r["group"] == uid.as_str())
        .unwrap_or_else(|| panic!("{spend}"));
    let usage = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/usage"),
            None,
        )
        .await;
    let user_rows: Vec<&Value> = usage["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["user_id"] == uid.as_str())
        .collect();
    assert_eq!(user_rows.len(), 3, "{usage}");
    assert_eq!(mine["requests"].as_u64(), Some(3), "{spend}");
    let tokens: u64 = user_rows
        .iter()
        .map(|r| r["output_tokens"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(mine["output_tokens"].as_u64(), Some(tokens), "{spend}");
    let cost: i128 = user_rows
        .iter()
        .map(|r| picos(r["cost_usd"].as_str().unwrap()))
        .sum();
    assert!(cost > 0);
    assert_eq!(picos(mine["cost_usd"].as_str().unwrap()), cost, "{spend}");
    // Filtered to the user: the same totals.
    let only = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/spend?group_by=model&user_id={uid}"),
            None,
        )
        .await;
    assert_eq!(only["total"]["requests"].as_u64(), Some(3), "{only}");
    assert_eq!(
        picos(only["total"]["cost_usd"].as_str().unwrap()),
        cost,
        "{only}"
    );
    // The usage export filtered to the user: exactly its rows.
    let filtered = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/usage?user_id={uid}"),
            None,
        )
        .await;
    let filtered = filtered["data"].as_array().unwrap();
    assert_eq!(filtered.len(), 3, "{filtered:?}");
    assert!(filtered.iter().all(|r| r["user_id"] == uid.as_str()));
    // The keyless-user group holds the other key's request.
    let none = rows
        .iter()
        .find(|r| r["group"] == "")
        .unwrap_or_else(|| panic!("{spend}"));
    assert_eq!(none["requests"].as_u64(), Some(1), "{spend}");

    // Read, list, disable: a disabled user's keys stop working without a restart.
    let got = stack
        .admin(Method::GET, &format!("{users}/{uid}"), None)
        .await;
    assert_eq!(got["external_id"], "ada", "{got}");
    let list = stack.admin(Method::GET, &users, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    let (status, body) = call(
        &stack,
        &edge,
        Method::GET,
        &format!("{users}/not-a-uuid"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let disabled = stack
        .admin(Method::DELETE, &format!("{users}/{uid}"), None)
        .await;
    assert_eq!(disabled["disabled"], true, "{disabled}");
    let took = stack.wait_key_works(&edge, &k1, false).await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    stack.wait_key_works(&edge, &other, true).await;
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_limits_reach_a_running_edge_by_notify_and_per_model_rows_limit_only_their_model() {
    let stack = Stack::start().await;
    let edge = stack.edge_url();
    let acme = stack.tenant("acme", false).await;
    let team = stack
        .admin(
            Method::POST,
            &format!("/admin/v1/tenants/{acme}/teams"),
            Some(json!({"name": "blue"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, secret) = key_with(&stack, &acme, json!({"team_id": team})).await;
    let limits = format!("/admin/v1/tenants/{acme}/limits");

    // Validation: clear 400s (and a 404 for a team of nobody).
    for (body, param) in [
        (
            json!({"scope": "planet", "scope_id": team, "rpm": 1}),
            "scope",
        ),
        (json!({"scope": "team", "rpm": 1}), "scope_id"),
        (json!({"scope": "team", "scope_id": team}), "rpm"),
    ] {
        let (status, err) =
            call(&stack, &edge, Method::PUT, &limits, ADMIN_TOKEN, Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["param"], param, "{err}");
    }
    let (status, err) = call(
        &stack,
        &edge,
        Method::PUT,
        &limits,
        ADMIN_TOKEN,
        Some(json!({"scope": "team", "scope_id": uuid::Uuid::now_v7().to_string(), "rpm": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    let (status, err) = call(
        &stack,
        &edge,
        Method::PUT,
        &limits,
        ADMIN_TOKEN,
        Some(json!({"scope": "team", "scope_id": team, "model": "no-such-model", "rpm": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");

    // No team limit yet: the key's default (100000/min) is the only one.
    let (status, limit, _) = chat(&stack, &secret, "mock").await;
    assert_eq!((status, limit.as_deref()), (StatusCode::OK, Some("100000")));

    // A team limit set now is enforced by the running edge within about a second.
    let t0 = Instant::now();
    stack
        .admin(
            Method::PUT,
            &limits,
            Some(json!({"scope": "team", "id": team, "rpm": 1000})),
        )
        .await;
    loop {
        let (status, limit, body) = chat(&stack, &secret, "mock").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if limit.as_deref() == Some("1000") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "team limit not applied"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(1500), "took {took:?}");

    // Two requests a minute of `mock` for the team; other models are not held by it.
    let per_model = stack
        .admin(
            Method::PUT,
            &limits,
            Some(json!({"scope": "team", "scope_id": team, "model": "gpt-4o-mini", "rpm": 2})),
        )
        .await;
    // The alias is stored as the model it names, so no alias escapes the limit.
    assert_eq!(per_model["model"], "mock", "{per_model}");
    let t0 = Instant::now();
    let refused = loop {
        let (status, _, body) = chat(&stack, &secret, "mock").await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break body;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "per-model limit not applied"
        );
    };
    assert_eq!(refused["error"]["code"], "rate_limit_exceeded", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model for this team"),
        "{refused}"
    );
    let (status, _, body) = chat(&stack, &secret, "gpt-4o-mini").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, _, body) = chat(&stack, &secret, "claude-mock").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Listed, then deleted: the model is free again without a restart.
    let list = stack.admin(Method::GET, &limits, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    let id = per_model["id"].as_str().unwrap();
    stack
        .admin(Method::DELETE, &format!("{limits}/{id}"), None)
        .await;
    let t0 = Instant::now();
    loop {
        let (status, _, _) = chat(&stack, &secret, "mock").await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(3),
            "deleted limit still applied"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, err) = call(
        &stack,
        &edge,
        Method::DELETE,
        &format!("{limits}/{id}"),
        ADMIN_TOKEN,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{err}");
    stack.shutdown().await;
}

fn token(tenant: &str, roles: &[&str]) -> String {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("k1".into());
    let claims = json!({
        "iss": ISS, "aud": "tollgate", "sub": "alice@acme.example",
        "tid": tenant, "roles": roles, "exp": now + 600, "iat": now,
    });
    jsonwebtoken::encode(
        &h,
        &claims,
        &EncodingKey::from_rsa_pem(RSA1.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_jwt_manages_its_own_tenant_only() {
    let mut stack = Stack::start().await;
    let acme = stack.tenant("acme", false).await;
    let other = stack.tenant("other", false).await;
    stack.cfg.jwt.issuers = vec![JwtIssuerConfig {
        issuer: ISS.into(),
        audiences: vec!["tollgate".into()],
        static_keys: vec![StaticKeyConfig {
            kid: "k1".into(),
            key: SecretRef::literal(RSA1_PUB),
        }],
        algorithms: vec!["RS256".into()],
        tenant_claim: Some("tid".into()),
        allowed_tenants: vec![acme.clone(), other.clone()],
        roles_claim: Some("roles".into()),
        admin_role: Some(ADMIN_ROLE.into()),
        ..JwtIssuerConfig::default()
    }];
    stack.cfg.validate().unwrap();
    let edge = stack.add_edge().await;
    let admin = token(&acme, &["reader", ADMIN_ROLE]);
    let plain = token(&acme, &["reader"]);

    // Its own tenant: listing shows only it, and users, teams and limits can be managed.
    let (status, list) = call(
        &stack,
        &edge,
        Method::GET,
        "/admin/v1/tenants",
        &admin,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [acme.as_str()]);
    let (status, user) = call(
        &stack,
        &edge,
        Method::POST,
        &format!("/admin/v1/tenants/{acme}/users"),
        &admin,
        Some(json!({"external_id": "alice@acme.example", "email": "alice@acme.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let uid = user["id"].as_str().unwrap().to_owned();
    let (status, body) = call(
        &stack,
        &edge,
        Method::PUT,
        &format!("/admin/v1/tenants/{acme}/limits"),
        &admin,
        Some(json!({"scope": "tenant", "rpm": 0})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope_id"], acme.as_str(), "{body}");

    // Another tenant, or anything outside a tenant: 403 with stable codes.
    for (method, path, code) in [
        (
            Method::GET,
            format!("/admin/v1/tenants/{other}/users"),
            "tenant_forbidden",
        ),
        (
            Method::GET,
            format!("/admin/v1/tenants/{other}/keys"),
            "tenant_forbidden",
        ),
        (
            Method::POST,
            "/admin/v1/tenants".to_owned(),
            "global_admin_required",
        ),
    ] {
        let (status, body) = call(
            &stack,
            &edge,
            method,
            &path,
            &admin,
            Some(json!({"name": "x"})),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
    }
    // Not admins at all: a JWT without the role, and an API key.
    let (status, body) = call(
        &stack,
        &edge,
        Method::GET,
        &format!("/admin/v1/tenants/{acme}/users"),
        &plain,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role")),
        "{body}"
    );
    let (_, secret) = stack.key(&acme, 0, 0).await;
    let (status, body) = call(
        &stack,
        &edge,
        Method::GET,
        "/admin/v1/tenants",
        &secret,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("insufficient_role")),
        "{body}"
    );
    let (status, body) = call(
        &stack,
        &edge,
        Method::GET,
        "/admin/v1/tenants",
        "nonsense",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_admin_token")),
        "{body}"
    );

    // The plain JWT is still a caller of the gateway, billed as the user its `sub` names.
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(&plain)
        .json(&chat_body("mock", false))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    stack.wait_ledger(&acme, 1).await;
    let spend = stack
        .admin(
            Method::GET,
            &format!("/admin/v1/tenants/{acme}/spend?group_by=user"),
            None,
        )
        .await;
    assert_eq!(spend["rows"][0]["group"], uid.as_str(), "{spend}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_served_without_credentials() {
    let stack = Stack::start().await;
    let r = stack
        .http()
        .get(format!("{}/admin/v1/openapi.json", stack.edge_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/admin/v1/tenants/{tenant}/users", "post"),
        ("/admin/v1/tenants/{tenant}/limits", "put"),
        ("/admin/v1/tenants/{tenant}/limits/{limit}", "delete"),
        ("/admin/v1/tenants/{tenant}/keys", "post"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{path} {method}");
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_user_limits_apply_to_every_user_until_a_row_overrides_them() {
    let stack = Stack::start_with(tollgate_tests::StackOptions {
        limits: |l| l.user_rpm = 2,
        ..tollgate_tests::StackOptions::default()
    })
    .await;
    let acme = stack.tenant("acme-defaults", false).await;
    let user = |external: &'static str| {
        let stack = &stack;
        let acme = &acme;
        async move {
            let u = stack
                .admin(
                    Method::POST,
                    &format!("/admin/v1/tenants/{acme}/users"),
                    Some(json!({"external_id": external})),
                )
                .await;
            u["id"].as_str().unwrap().to_owned()
        }
    };
    let (grace, linus) = (user("grace").await, user("linus").await);
    // Linus gets a row of his own; Grace has the configured default.
    stack
        .admin(
            Method::PUT,
            &format!("/admin/v1/tenants/{acme}/limits"),
            Some(json!({"scope": "user", "scope_id": linus, "rpm": 4})),
        )
        .await;
    let (_, g) = key_with(&stack, &acme, json!({"user_id": grace})).await;
    let (_, l) = key_with(&stack, &acme, json!({"user_id": linus})).await;
    let (_, nobody) = key_with(&stack, &acme, json!({})).await;
    let served = |secret: String| {
        let stack = &stack;
        async move {
            let mut ok = 0;
            for _ in 0..5 {
                if chat(stack, &secret, "mock").await.0 == StatusCode::OK {
                    ok += 1;
                }
            }
            ok
        }
    };
    assert_eq!(served(g).await, 2, "the configured user_rpm");
    assert_eq!(served(l).await, 4, "the user's own row wins");
    assert_eq!(
        served(nobody).await,
        5,
        "a key without a user is not a user"
    );
    stack.shutdown().await;
}
