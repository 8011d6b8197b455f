//! Hot reload: the config file is polled for changes (mtime and size); a good file is handed to
//! the service, a bad one is logged with the field named and the service keeps what it had.
//! Polling is cheap, works on every filesystem and on Kubernetes ConfigMap symlink swaps.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::Config;

/// What identifies a version of the file without reading it.
async fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Watch `path` every `every`; on each change, load and validate it and pass it to `apply`,
/// which may still refuse it (its message is logged). Runs until dropped. Counts
/// `tollgate_config_reload_total{service, result}`.
pub async fn watch<F>(path: PathBuf, every: Duration, service: &'static str, mut apply: F)
where
    F: FnMut(Config) -> Result<(), String> + Send,
{
    let mut seen = stamp(&path).await;
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = stamp(&path).await;
        if now == seen {
            continue;
        }
        seen = now;
        let p = path.clone();
        // File reads and parsing stay off the async workers.
        let loaded = tokio::task::spawn_blocking(move || Config::load(Some(&p))).await;
        let outcome = match loaded {
            Ok(Ok(cfg)) => apply(cfg),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the reload task failed: {e}")),
        };
        let result = match outcome {
            Ok(()) => {
                tracing::info!(service, path = %path.display(), "configuration reloaded");
                "ok"
            }
            Err(e) => {
                tracing::error!(service, path = %path.display(), error = %e, "configuration rejected; keeping the previous one");
                "error"
            }
        };
        metrics::counter!("tollgate_config_reload_total", "service" => service, "result" => result)
            .increment(1);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    const FILE: &str = r#"
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"

[[models]]
name = "first"
deployments = [{ provider = "p", model = "m" }]
price = { input = "1", output = "2" }
"#;

    #[tokio::test]
    async fn a_changed_file_is_applied_and_a_broken_one_is_not() {
        let dir = std::env::temp_dir().join(format!("tg-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tollgate.toml");
        std::fs::write(&path, FILE).unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = seen.clone();
        let task = tokio::spawn(watch(
            path.clone(),
            Duration::from_millis(100),
            "test",
            move |c| {
                sink.lock()
                    .map_err(|e| e.to_string())?
                    .push(c.models[0].name.clone());
                Ok(())
            },
        ));
        let wait = |n: usize| {
            let seen = seen.clone();
            async move {
                for _ in 0..100 {
                    if seen.lock().unwrap().len() >= n {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        tokio::time::sleep(Duration::from_millis(250)).await;
        // A broken file (a deployment naming no provider) is refused: nothing applied.
        std::fs::write(
            &path,
            FILE.replace("provider = \"p\"", "provider = \"nope\""),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(seen.lock().unwrap().is_empty());
        // A good change is applied.
        std::fs::write(&path, FILE.replace("\"first\"", "\"second\"")).unwrap();
        wait(1).await;
        assert_eq!(*seen.lock().unwrap(), ["second"]);
        task.abort();
        std::fs::remove_dir_all(dir).unwrap();
    }
}
