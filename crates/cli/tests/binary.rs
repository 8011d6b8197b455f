//! The real `tollgatectl` binary: environment variables, exit codes, what reaches the terminal.

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fake_edge;

use std::process::Output;

use fake_edge::{FakeEdge, KEY_SECRET, TOKEN};

async fn tollgatectl(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgatectl"));
    // Start from a clean slate: the developer's own variables must not leak into the test.
    for var in [
        "TOLLGATE_URL",
        "TOLLGATE_ADMIN_TOKEN",
        "DATABASE_URL",
        "TOLLGATE_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).args(args);
    cmd.output().await.unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[tokio::test]
async fn url_and_token_come_from_the_environment() {
    let edge = FakeEdge::start().await;
    let env = [
        ("TOLLGATE_URL", edge.url.as_str()),
        ("TOLLGATE_ADMIN_TOKEN", TOKEN),
    ];
    let o = tollgatectl(&env, &["tenants", "create", "acme"]).await;
    assert!(o.status.success(), "{:?}", text(&o));
    let o = tollgatectl(
        &env,
        &["keys", "create", "--tenant", "ten_1", "--name", "ci"],
    )
    .await;
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert_eq!(stdout.matches(KEY_SECRET).count(), 1, "{stdout}");
    assert!(stdout.contains("cannot be shown again"), "{stdout}");
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    assert_eq!(edge.last().authorization, Some(format!("Bearer {TOKEN}")));
}

#[tokio::test]
async fn help_never_shows_the_token_or_the_database_url() {
    let db = "postgres://tollgate:hunter2-db-password@db:5432/tollgate";
    let env = [("TOLLGATE_ADMIN_TOKEN", TOKEN), ("DATABASE_URL", db)];
    for args in [
        &["--help"][..],
        &["tenants", "list", "--help"],
        &["migrate", "--help"],
    ] {
        let o = tollgatectl(&env, args).await;
        let (stdout, stderr) = text(&o);
        assert!(o.status.success(), "{args:?}: {stderr}");
        assert!(stdout.contains("TOLLGATE_ADMIN_TOKEN"), "{stdout}");
        assert!(
            !stdout.contains(TOKEN) && !stdout.contains("hunter2"),
            "{stdout}"
        );
    }
}

#[tokio::test]
async fn no_token_is_a_clear_error_and_exit_1() {
    let edge = FakeEdge::start().await;
    let o = tollgatectl(&[("TOLLGATE_URL", edge.url.as_str())], &["tenants", "list"]).await;
    let (_, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr.contains("TOLLGATE_ADMIN_TOKEN"), "{stderr}");
    assert!(
        edge.seen().is_empty(),
        "nothing may be sent without a token"
    );
}

#[tokio::test]
async fn a_refused_request_exits_1_with_the_servers_message() {
    let edge = FakeEdge::start().await;
    let wrong = "adm-not-the-right-one-42";
    let env = [
        ("TOLLGATE_URL", edge.url.as_str()),
        ("TOLLGATE_ADMIN_TOKEN", wrong),
    ];
    let o = tollgatectl(&env, &["tenants", "list"]).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(
        stderr.starts_with("error: GET /admin/v1/tenants failed with HTTP 401"),
        "{stderr}"
    );
    assert!(!stderr.contains(wrong), "{stderr}");
}

#[tokio::test]
async fn config_check_exits_0_on_a_good_file_and_1_naming_the_field_on_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        r#"
[[providers]]
name = "mock"
kind = "openai"
base_url = "http://127.0.0.1:9000/v1"

[[models]]
name = "mock"
deployments = [{ provider = "mock", model = "mock-1" }]
price = { input = "0.15", output = "0.60" }
"#,
    )
    .unwrap();
    let o = tollgatectl(&[], &["config", "check", good.to_str().unwrap()]).await;
    let (stdout, stderr) = text(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("OK: ") && stdout.contains("1 providers, 1 models"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    let content = std::fs::read_to_string(&good)
        .unwrap()
        .replace("\"0.60\"", "\"cheap\"");
    std::fs::write(&bad, content).unwrap();
    let o = tollgatectl(&[], &["config", "check", bad.to_str().unwrap()]).await;
    let (stdout, stderr) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout.is_empty());
    assert!(stderr.contains("models[0].price.output"), "{stderr}");
}
