//! The CLI's commands against a real HTTP server speaking the admin API: what it sends (path,
//! query, body, bearer token) and what it prints (tables, JSON, errors).

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_edge;

use clap::Parser;
use fake_edge::{FakeEdge, KEY_SECRET, TOKEN};
use serde_json::{Value, json};
use tollgate_cli::{Cli, CliError, Output, run};

async fn ctl_with(url: &str, token: &str, args: &[&str]) -> Result<Output, CliError> {
    let mut full = vec!["tollgatectl", "--url", url, "--admin-token", token];
    full.extend_from_slice(args);
    run(Cli::try_parse_from(full).unwrap()).await
}

async fn ctl(edge: &FakeEdge, args: &[&str]) -> Output {
    let out = ctl_with(&edge.url, TOKEN, args).await.unwrap();
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    out
}

async fn edge_with_tenant() -> FakeEdge {
    let edge = FakeEdge::start().await;
    ctl(&edge, &["tenants", "create", "acme"]).await;
    edge
}

#[tokio::test]
async fn tenants_are_created_and_listed_with_the_token_as_bearer() {
    let edge = FakeEdge::start().await;
    let out = ctl(&edge, &["tenants", "create", "acme", "--log-content"]).await;
    assert_eq!(
        out.stdout,
        "Created tenant ten_1 (acme), log_content=true\n"
    );
    let req = edge.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/admin/v1/tenants")
    );
    assert_eq!(
        req.authorization.as_deref(),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(req.body, Some(json!({"name": "acme", "log_content": true})));

    ctl(&edge, &["tenants", "create", "globex"]).await;
    assert_eq!(edge.last().body, Some(json!({"name": "globex"})));

    let out = ctl(&edge, &["tenants", "list"]).await;
    assert_eq!(
        out.stdout,
        "ID     NAME    LOG_CONTENT  CREATED\n\
         ten_1  acme    true         2026-11-24 09:30:00\n\
         ten_2  globex  false        2026-11-24 09:30:00\n"
    );
    assert!(
        edge.seen()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
}

#[tokio::test]
async fn json_output_is_the_servers_shape() {
    let edge = edge_with_tenant().await;
    let out = ctl(&edge, &["--json", "tenants", "list"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["data"][0]["id"], "ten_1");
    assert_eq!(v["data"][0]["created_at"], "2026-11-24T09:30:00Z");
    assert_eq!(v["data"][0]["log_content"], false);
}

#[tokio::test]
async fn a_team_is_created_in_its_tenant() {
    let edge = edge_with_tenant().await;
    let out = ctl(&edge, &["teams", "create", "--tenant", "ten_1", "search"]).await;
    assert_eq!(out.stdout, "Created team team_1 (search) in tenant ten_1\n");
    assert_eq!(edge.last().path, "/admin/v1/tenants/ten_1/teams");
    assert_eq!(edge.last().body, Some(json!({"name": "search"})));
}

#[tokio::test]
async fn a_key_secret_is_shown_once_with_a_warning_and_never_listed() {
    let edge = edge_with_tenant().await;
    let args = [
        "keys",
        "create",
        "--tenant",
        "ten_1",
        "--team",
        "team_1",
        "--name",
        "ci",
        "--rpm",
        "60",
        "--concurrency",
        "4",
    ];
    let out = ctl(&edge, &args).await;
    assert_eq!(out.stdout.matches(KEY_SECRET).count(), 1, "{}", out.stdout);
    assert!(
        out.stdout.contains("cannot be shown again"),
        "{}",
        out.stdout
    );
    assert_eq!(
        edge.last().body,
        Some(json!({"name": "ci", "team_id": "team_1", "rpm_limit": 60, "concurrency_limit": 4}))
    );

    let out = ctl(&edge, &["keys", "list", "--tenant", "ten_1"]).await;
    assert!(!out.stdout.contains(KEY_SECRET));
    assert_eq!(
        out.stdout,
        "ID            NAME  TEAM    STATUS  RPM  CONCURRENCY  MODELS  EXPIRES  CREATED\n\
         AbCdEf012345  ci    team_1  active   60            4  all     -        2026-11-24 09:31:00\n"
    );

    let out = ctl(
        &edge,
        &["keys", "revoke", "--tenant", "ten_1", "AbCdEf012345"],
    )
    .await;
    assert_eq!(out.stdout, "Key AbCdEf012345 (ci) is revoked\n");
    let req = edge.last();
    assert_eq!(req.method, "DELETE");
    assert_eq!(req.path, "/admin/v1/tenants/ten_1/keys/AbCdEf012345");
    let out = ctl(&edge, &["keys", "list", "--tenant", "ten_1"]).await;
    assert!(out.stdout.contains("revoked"), "{}", out.stdout);
}

#[tokio::test]
async fn json_key_creation_keeps_stdout_parseable_and_warns_on_stderr() {
    let edge = edge_with_tenant().await;
    let out = ctl(&edge, &["--json", "keys", "create", "--tenant", "ten_1"]).await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["secret"], KEY_SECRET);
    assert_eq!(v["key"]["name"], "default");
    assert!(out.stderr.contains("cannot be shown again"));

    // Limits the server reports as 0 are its defaults, and a key without a team shows `-`.
    let out = ctl(&edge, &["keys", "list", "--tenant", "ten_1"]).await;
    let row = out.stdout.lines().nth(1).unwrap().to_owned();
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &cells[..6],
        [
            "AbCdEf012345",
            "default",
            "-",
            "active",
            "default",
            "default"
        ]
    );
}

#[tokio::test]
async fn spend_sends_the_window_and_filters_and_prints_a_total() {
    let edge = edge_with_tenant().await;
    let args = [
        "spend",
        "--tenant",
        "ten_1",
        "--from",
        "2026-11-01T00:00:00+01:00",
        "--to",
        "2026-11-24T00:00:00Z",
        "--group-by",
        "model",
        "--team",
        "team_1",
        "--key",
        "k1",
        "--model",
        "gpt-4o-mini",
    ];
    let out = ctl(&edge, &args).await;
    let req = edge.last();
    assert_eq!(req.path, "/admin/v1/tenants/ten_1/spend");
    assert_eq!(
        req.query.as_deref(),
        Some(
            "from=2026-10-31T23%3A00%3A00Z&to=2026-11-24T00%3A00%3A00Z&group_by=model\
             &team_id=team_1&key_id=k1&model=gpt-4o-mini"
        )
    );
    assert_eq!(
        out.stdout,
        "GROUP    REQUESTS  INPUT_TOKENS  OUTPUT_TOKENS  CACHED_INPUT   COST_USD\n\
         model-a      1200        150000          42000          1000     0.0477\n\
         model-b         3            10             20             0  0.0000135\n\
         TOTAL        1203        150010          42020          1000  0.0477135\n"
    );
}

#[tokio::test]
async fn spend_since_sends_a_from_about_that_long_ago_and_nothing_else() {
    let edge = edge_with_tenant().await;
    let before = chrono::Utc::now();
    ctl(&edge, &["spend", "--tenant", "ten_1", "--since", "7d"]).await;
    let query = edge.last().query.unwrap();
    let from = query.strip_prefix("from=").unwrap().replace("%3A", ":");
    let from = chrono::DateTime::parse_from_rfc3339(&from).unwrap();
    let ago = before - from.with_timezone(&chrono::Utc);
    assert!(
        (ago - chrono::Duration::days(7)).num_seconds().abs() < 5,
        "{ago}"
    );
}

#[tokio::test]
async fn a_bad_time_is_refused_before_any_request() {
    let edge = edge_with_tenant().await;
    let n = edge.seen().len();
    let e = ctl_with(
        &edge.url,
        TOKEN,
        &["spend", "--tenant", "ten_1", "--from", "last week"],
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("--from"), "{e}");
    assert_eq!(edge.seen().len(), n);
}

#[tokio::test]
async fn logs_pass_filters_and_print_one_line_per_request() {
    let edge = edge_with_tenant().await;
    let out = ctl(
        &edge,
        &[
            "logs",
            "--tenant",
            "ten_1",
            "--limit",
            "2",
            "--key",
            "AbCdEf012345",
        ],
    )
    .await;
    assert_eq!(
        edge.last().query.as_deref(),
        Some("limit=2&key_id=AbCdEf012345")
    );
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    assert!(lines[0].starts_with("STARTED"));
    assert!(
        lines[1].contains("0194f0c2-0000-7000-8000-000000000001") && lines[1].contains(" 200 ")
    );
    assert!(
        lines[2].contains(" 429 ") && lines[2].contains("rate_limited"),
        "{}",
        lines[2]
    );

    let id = "0194f0c2-0000-7000-8000-000000000003";
    let out = ctl(
        &edge,
        &["--json", "logs", "--tenant", "ten_1", "--request-id", id],
    )
    .await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 1);
    assert_eq!(v["data"][0]["stream"], true);
    assert_eq!(v["data"][0]["cost_usd"], "0.0000222");
    // Fields the CLI has no column for still reach --json.
    assert_eq!(v["data"][0]["request_body"], "");
}

#[tokio::test]
async fn a_wrong_token_gives_the_servers_error_without_either_token() {
    let edge = edge_with_tenant().await;
    let wrong = "adm-wrong-token-that-must-stay-hidden";
    let e = ctl_with(&edge.url, wrong, &["tenants", "list"])
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("401") && text.contains("missing or invalid admin token"),
        "{text}"
    );
    assert!(text.contains("invalid_admin_token"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(TOKEN), "{text}");
    assert_eq!(edge.last().authorization, Some(format!("Bearer {wrong}")));
}

#[tokio::test]
async fn server_errors_name_the_request_and_the_code() {
    let edge = edge_with_tenant().await;
    let e = ctl_with(
        &edge.url,
        TOKEN,
        &["keys", "revoke", "--tenant", "ten_1", "nope"],
    )
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "DELETE /admin/v1/tenants/ten_1/keys/nope failed with HTTP 404: no such key (code: key_not_found)"
    );
}

#[tokio::test]
async fn ids_cannot_change_the_path() {
    let edge = edge_with_tenant().await;
    let _ = ctl_with(
        &edge.url,
        TOKEN,
        &["keys", "list", "--tenant", "../../tenants?x=1"],
    )
    .await;
    assert_eq!(
        edge.last().path,
        "/admin/v1/tenants/..%2F..%2Ftenants%3Fx=1/keys"
    );
}

#[tokio::test]
async fn an_unreachable_edge_is_named_without_the_token() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let e = ctl_with(&url, TOKEN, &["tenants", "list"])
        .await
        .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(
        text.contains("cannot reach the edge") && text.contains(&url),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn a_url_with_a_base_path_keeps_it() {
    let edge = edge_with_tenant().await;
    let e = ctl_with(
        &format!("{}/gateway/", edge.url),
        TOKEN,
        &["tenants", "list"],
    )
    .await
    .unwrap_err()
    .to_string();
    // The fake serves no /gateway prefix, so the 404 proves where the request went.
    assert!(
        e.contains("GET /gateway/admin/v1/tenants failed with HTTP 404"),
        "{e}"
    );
}
