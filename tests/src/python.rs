//! The Python interpreter with the official SDKs the whole-system tests drive (installed by
//! `scripts/python-sdks.sh`, which `scripts/test.sh` runs), and running one of the scripts in
//! `tests/python/` against a stack.

use std::path::PathBuf;

use serde_json::Value;

/// `TOLLGATE_PYTHON`, or the venv `scripts/python-sdks.sh` makes. Panics (the test fails and
/// says how to get it) when neither exists: an SDK test is never skipped.
#[allow(clippy::disallowed_methods)]
pub fn interpreter() -> PathBuf {
    if let Some(p) = std::env::var_os("TOLLGATE_PYTHON") {
        return p.into();
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
    let p = PathBuf::from(home).join(".cache/tollgate-pyenv/bin/python");
    assert!(
        p.exists(),
        "the Python SDKs are not installed: run `bash scripts/python-sdks.sh` (scripts/test.sh does)"
    );
    p
}

/// Runs `tests/python/<script>` with `env`, and answers the one JSON document it prints; a
/// failing script fails the test with its stderr.
pub async fn run_script(script: &str, env: &[(&str, &str)]) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let mut cmd = tokio::process::Command::new(interpreter());
    cmd.arg(&path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().await.expect("run the Python interpreter");
    assert!(
        out.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints one JSON document")
}
