//! `tollgatectl users ...` and `tollgatectl limits ...` against a small HTTP server speaking the
//! admin API's shapes for those routes: what the CLI sends (method, path, body) and prints.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use clap::Parser;
use serde_json::{Value, json};
use tollgate_cli::{Cli, CliError, Output, run};

const TOKEN: &str = "adm-users-limits-token-0123456789";
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Answers every admin call with a canned body for its route and records what it received.
async fn serve() -> (String, Seen) {
    let seen: Seen = Arc::default();
    async fn any(State(seen): State<Seen>, req: Request) -> axum::response::Response {
        let method = req.method().to_string();
        let path = req.uri().path().to_owned();
        let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        seen.lock()
            .unwrap()
            .push((method.clone(), path.clone(), body));
        let user = json!({"id": "u1", "tenant_id": "t1", "team_id": null, "external_id": "ada",
            "email": null, "name": "Ada", "disabled": method == "DELETE"});
        let limit = json!({"id": "l1", "tenant_id": "t1", "scope": "team", "scope_id": "team1",
            "model": "mock", "rpm": 5, "tpm": null, "concurrency": 0});
        let answer = match (
            method.as_str(),
            path.ends_with("/users"),
            path.contains("/limits"),
        ) {
            ("GET", true, _) => json!({"data": [user]}),
            ("GET", _, true) => json!({"data": [limit]}),
            (_, _, true) => limit,
            _ => user,
        };
        axum::Json(answer).into_response()
    }
    let app = Router::new().fallback(any).with_state(seen.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, seen)
}

async fn ctl(url: &str, args: &[&str]) -> Result<Output, CliError> {
    let mut full = vec!["tollgatectl", "--url", url, "--admin-token", TOKEN];
    full.extend_from_slice(args);
    run(Cli::try_parse_from(full).unwrap()).await
}

#[tokio::test]
async fn users_are_created_listed_and_disabled_by_their_routes() {
    let (url, seen) = serve().await;
    let out = ctl(
        &url,
        &[
            "users",
            "create",
            "--tenant",
            "t1",
            "--external-id",
            "ada",
            "--name",
            "Ada",
        ],
    )
    .await
    .unwrap();
    assert!(
        out.stdout.contains("ada") && out.stdout.contains("active"),
        "{}",
        out.stdout
    );
    let out = ctl(&url, &["users", "list", "--tenant", "t1"])
        .await
        .unwrap();
    assert!(out.stdout.contains("u1"), "{}", out.stdout);
    let out = ctl(&url, &["users", "disable", "--tenant", "t1", "u1"])
        .await
        .unwrap();
    assert!(out.stdout.contains("disabled"), "{}", out.stdout);
    let out = ctl(&url, &["--json", "users", "get", "--tenant", "t1", "u1"])
        .await
        .unwrap();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["external_id"], "ada");
    let seen = seen.lock().unwrap().clone();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/admin/v1/tenants/t1/users"),
            ("GET", "/admin/v1/tenants/t1/users"),
            ("DELETE", "/admin/v1/tenants/t1/users/u1"),
            ("GET", "/admin/v1/tenants/t1/users/u1"),
        ]
    );
    assert_eq!(seen[0].2, json!({"external_id": "ada", "name": "Ada"}));
}

#[tokio::test]
async fn limits_send_only_the_numbers_given() {
    let (url, seen) = serve().await;
    let out = ctl(
        &url,
        &[
            "limits",
            "set",
            "--tenant",
            "t1",
            "--scope",
            "team",
            "--scope-id",
            "team1",
            "--model",
            "mock",
            "--rpm",
            "5",
            "--concurrency",
            "0",
        ],
    )
    .await
    .unwrap();
    // Unset tpm shows as the default; 0 as unlimited.
    assert!(
        out.stdout.contains("default") && out.stdout.contains("unlimited"),
        "{}",
        out.stdout
    );
    ctl(&url, &["limits", "list", "--tenant", "t1"])
        .await
        .unwrap();
    ctl(&url, &["limits", "delete", "--tenant", "t1", "l1"])
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        (seen[0].0.as_str(), seen[0].1.as_str()),
        ("PUT", "/admin/v1/tenants/t1/limits")
    );
    assert_eq!(
        seen[0].2,
        json!({"scope": "team", "scope_id": "team1", "model": "mock", "rpm": 5, "concurrency": 0})
    );
    assert_eq!(
        (seen[2].0.as_str(), seen[2].1.as_str()),
        ("DELETE", "/admin/v1/tenants/t1/limits/l1")
    );
    // A scope the server does not know is refused before any request.
    assert!(
        Cli::try_parse_from([
            "tollgatectl",
            "limits",
            "set",
            "--tenant",
            "t",
            "--scope",
            "planet"
        ])
        .is_err()
    );
}
