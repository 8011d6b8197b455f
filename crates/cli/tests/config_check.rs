//! `config check` on good and bad files: OK, or an error naming the field.

// Test helpers outside #[test] fns: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use clap::Parser;
use tollgate_cli::{Cli, run};

async fn check(file: &Path) -> Result<String, String> {
    let cli =
        Cli::try_parse_from(["tollgatectl", "config", "check", file.to_str().unwrap()]).unwrap();
    run(cli).await.map(|o| o.stdout).map_err(|e| e.to_string())
}

fn write(dir: &tempfile::TempDir, name: &str, body: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, body).unwrap();
    p
}

const GOOD: &str = r#"
[edge]
listen = "0.0.0.0:8080"

[[providers]]
name = "mock"
kind = "openai"
base_url = "http://127.0.0.1:9000/v1"

[[models]]
name = "mock"
aliases = ["mock-fast"]
deployments = [{ provider = "mock", model = "mock-1" }]
price = { input = "0.15", output = "0.60" }
"#;

#[tokio::test]
async fn a_good_file_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(&write(&dir, "t.toml", GOOD)).await.unwrap();
    assert!(
        out.starts_with("OK: ") && out.ends_with("(1 providers, 1 models)\n"),
        "{out}"
    );
}

#[tokio::test]
async fn bad_files_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (GOOD.replace("listen =", "listen_addr ="), "listen_addr"),
        (
            GOOD.replace("provider = \"mock\"", "provider = \"nope\""),
            "models[0].deployments[0].provider",
        ),
        (
            GOOD.replace("\"0.15\"", "\"free\""),
            "models[0].price.input",
        ),
        (
            GOOD.replace("http://127.0.0.1:9000/v1", "ftp://x"),
            "providers[0].base_url",
        ),
        (
            format!("{GOOD}\n[edge.limits]\nreplicas = 0\n"),
            "edge.limits.replicas",
        ),
    ];
    for (i, (body, field)) in cases.iter().enumerate() {
        let e = check(&write(&dir, &format!("bad{i}.toml"), body))
            .await
            .unwrap_err();
        assert!(e.contains(field), "case {i}: expected `{field}` in: {e}");
    }
}

#[tokio::test]
async fn a_missing_file_is_an_error() {
    let e = check(Path::new("/nonexistent/tollgate.toml"))
        .await
        .unwrap_err();
    assert!(e.contains("/nonexistent/tollgate.toml"), "{e}");
}

#[tokio::test]
async fn with_a_service_only_its_secrets_are_needed_and_stand_ins_are_named() {
    let dir = tempfile::tempdir().unwrap();
    // The edge listens on 0.0.0.0 with the built-in pepper; routing's provider key is unset.
    let file = write(
        &dir,
        "t.toml",
        &GOOD.replace(
            "base_url = \"http://127.0.0.1:9000/v1\"",
            "base_url = \"http://127.0.0.1:9000/v1\"\napi_key = \"env:TOLLGATE_TEST_UNSET_KEY\"",
        ),
    );
    let as_service = |service: &'static str| {
        let file = file.clone();
        async move {
            let cli = Cli::try_parse_from([
                "tollgatectl",
                "config",
                "check",
                "--service",
                service,
                file.to_str().unwrap(),
            ])
            .unwrap();
            run(cli).await.map(|o| o.stdout).map_err(|e| e.to_string())
        }
    };
    assert!(
        as_service("logging").await.is_ok(),
        "logging needs none of them"
    );
    let e = as_service("routing").await.unwrap_err();
    assert!(e.contains("providers[0].api_key"), "{e}");
    let e = as_service("edge").await.unwrap_err();
    assert!(
        e.contains("edge.key_pepper") || e.contains("internal.secret"),
        "{e}"
    );
    assert!(
        check(&file)
            .await
            .unwrap_err()
            .contains("TOLLGATE_TEST_UNSET_KEY")
    );
    assert!(
        Cli::try_parse_from([
            "tollgatectl",
            "config",
            "check",
            "--service",
            "gateway",
            "t.toml"
        ])
        .is_err()
    );
}
