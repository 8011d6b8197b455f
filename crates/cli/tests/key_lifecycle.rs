//! `keys create` with expiry, allowed models and metadata; `keys get`; `keys rotate`: what the
//! CLI sends and prints, against the in-test admin API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_edge;

use clap::Parser;
use fake_edge::{FakeEdge, KEY_SECRET, ROTATED_SECRET, TOKEN};
use serde_json::{Value, json};
use tollgate_cli::{Cli, CliError, Output, run};

async fn ctl_result(edge: &FakeEdge, args: &[&str]) -> Result<Output, CliError> {
    let mut full = vec!["tollgatectl", "--url", &edge.url, "--admin-token", TOKEN];
    full.extend_from_slice(args);
    run(Cli::try_parse_from(full).unwrap()).await
}

async fn ctl(edge: &FakeEdge, args: &[&str]) -> Output {
    ctl_result(edge, args).await.unwrap()
}

async fn edge_with_key() -> FakeEdge {
    let edge = FakeEdge::start().await;
    ctl(&edge, &["tenants", "create", "acme"]).await;
    let args = [
        "keys",
        "create",
        "--tenant",
        "ten_1",
        "--name",
        "ci",
        "--expires-in",
        "30d",
        "--allow-model",
        "gpt-4o",
        "--allow-model",
        "mock",
        "--meta",
        "owner=ml",
        "--meta",
        "env=prod",
    ];
    let out = ctl(&edge, &args).await;
    assert_eq!(out.stdout.matches(KEY_SECRET).count(), 1);
    assert_eq!(
        edge.last().body,
        Some(json!({
            "name": "ci",
            "expires_in": "30d",
            "allowed_models": ["gpt-4o", "mock"],
            "metadata": {"env": "prod", "owner": "ml"},
        }))
    );
    edge
}

#[tokio::test]
async fn create_sends_expiry_models_and_metadata_and_get_shows_them() {
    let edge = edge_with_key().await;
    let out = ctl(&edge, &["keys", "get", "--tenant", "ten_1", "AbCdEf012345"]).await;
    assert_eq!(edge.last().method, "GET");
    assert_eq!(
        edge.last().path,
        "/admin/v1/tenants/ten_1/keys/AbCdEf012345"
    );
    assert!(!out.stdout.contains(KEY_SECRET));
    for line in [
        "id:             AbCdEf012345\n",
        "status:         active\n",
        "models:         gpt-4o,mock\n",
        "expires:        2026-12-24 09:31:00\n",
        "metadata:\n  env = prod\n  owner = ml\n",
    ] {
        assert!(out.stdout.contains(line), "{line:?} in\n{}", out.stdout);
    }

    let out = ctl(
        &edge,
        &["--json", "keys", "get", "--tenant", "ten_1", "AbCdEf012345"],
    )
    .await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["metadata"]["owner"], "ml");
    assert_eq!(v["allowed_models"], json!(["gpt-4o", "mock"]));

    let out = ctl(&edge, &["keys", "list", "--tenant", "ten_1"]).await;
    assert!(out.stdout.contains("gpt-4o,mock"), "{}", out.stdout);
    assert!(out.stdout.contains("2026-12-24 09:31:00"), "{}", out.stdout);
}

#[tokio::test]
async fn rotate_prints_the_new_secret_once_and_when_the_old_key_stops() {
    let edge = edge_with_key().await;
    let out = ctl(
        &edge,
        &[
            "keys",
            "rotate",
            "--tenant",
            "ten_1",
            "AbCdEf012345",
            "--overlap",
            "1h",
        ],
    )
    .await;
    let req = edge.last();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/admin/v1/tenants/ten_1/keys/AbCdEf012345/rotate");
    assert_eq!(req.body, Some(json!({"overlap": "1h"})));
    assert_eq!(
        out.stdout.matches(ROTATED_SECRET).count(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("cannot be shown again"));
    assert!(
        out.stdout
            .contains("The old key AbCdEf012345 works until 2026-11-24 10:31:00."),
        "{}",
        out.stdout
    );

    // Without --overlap the server's default applies.
    let out = ctl(
        &edge,
        &[
            "--json",
            "keys",
            "rotate",
            "--tenant",
            "ten_1",
            "AbCdEf012345",
        ],
    )
    .await;
    assert_eq!(edge.last().body, Some(json!({})));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["secret"], ROTATED_SECRET);
    assert_eq!(v["key"]["rotated_from"], "AbCdEf012345");
    assert!(out.stderr.contains("cannot be shown again"));

    let out = ctl(&edge, &["keys", "list", "--tenant", "ten_1"]).await;
    assert!(!out.stdout.contains(ROTATED_SECRET) && !out.stdout.contains(KEY_SECRET));
}

#[tokio::test]
async fn a_malformed_meta_flag_is_refused_before_any_request() {
    let edge = FakeEdge::start().await;
    let err = ctl_result(
        &edge,
        &["keys", "create", "--tenant", "ten_1", "--meta", "novalue"],
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("--meta"), "{err}");
    assert!(edge.seen().is_empty());
}
