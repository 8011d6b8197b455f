//! Hot reload: the config file is polled for changes (mtime and size); a good file is handed to
//! the service, a bad one is logged with the field named and the service keeps what it had.
//! Polling is cheap, works on every filesystem and on Kubernetes ConfigMap symlink swaps.
//!
//! Besides the poll, a service can ask [`ConfigFile::check`] at once when it meets a model name
//! it does not know (the edge, before refusing a model; routing, when the edge's model directory
//! differs from its own): every process follows the same file, so whoever is behind catches up
//! before answering, and the edge and routing agree on which models exist.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::{Config, Process};

/// What identifies a version of the file without reading it.
type Stamp = Option<(SystemTime, u64)>;

async fn stamp(path: &Path) -> Stamp {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

type Apply = Box<dyn Fn(Config) -> Result<(), String> + Send + Sync>;

/// One config file a service follows, and what it does with a new version.
pub struct ConfigFile {
    path: PathBuf,
    process: Process,
    /// The version last looked at; held across a load so concurrent checks load it once.
    seen: tokio::sync::Mutex<Stamp>,
    apply: Apply,
}

impl ConfigFile {
    /// Follow `path`; `apply` gets each new valid version and may still refuse it (its message
    /// is logged). The first check applies the file as it is then, even if the service loaded
    /// that very version at start: the file may have changed between that load and this call,
    /// and a version missed then would never be applied.
    pub fn open<F>(path: PathBuf, process: Process, apply: F) -> Arc<ConfigFile>
    where
        F: Fn(Config) -> Result<(), String> + Send + Sync + 'static,
    {
        Arc::new(ConfigFile {
            path,
            process,
            seen: tokio::sync::Mutex::new(None),
            apply: Box::new(apply),
        })
    }

    /// Load and apply the file if it changed since it was last looked at. Returns whether a new
    /// version was applied. Costs one `stat` when nothing changed. Counts
    /// `tollgate_config_reload_total{service, result}`.
    pub async fn check(&self) -> bool {
        let mut seen = self.seen.lock().await;
        let now = stamp(&self.path).await;
        if now == *seen {
            return false;
        }
        *seen = now;
        let p = self.path.clone();
        // File reads and parsing stay off the async workers.
        let process = self.process;
        let loaded = tokio::task::spawn_blocking(move || Config::load_for(Some(&p), process)).await;
        let outcome = match loaded {
            Ok(Ok(cfg)) => (self.apply)(cfg),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the reload task failed: {e}")),
        };
        let service = self.process.name();
        let path = self.path.display();
        let (result, applied) = match outcome {
            Ok(()) => {
                tracing::info!(service, path = %path, "configuration reloaded");
                ("ok", true)
            }
            Err(e) => {
                tracing::error!(service, path = %path, error = %e, "configuration rejected; keeping the previous one");
                ("error", false)
            }
        };
        metrics::counter!("tollgate_config_reload_total", "service" => service, "result" => result)
            .increment(1);
        applied
    }

    /// Check every `every` until dropped.
    pub async fn follow(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.check().await;
        }
    }
}

/// Watch `path` every `every`; on each change, load and validate it and pass it to `apply`,
/// which may still refuse it (its message is logged). Runs until dropped.
pub async fn watch<F>(path: PathBuf, every: Duration, process: Process, apply: F)
where
    F: Fn(Config) -> Result<(), String> + Send + Sync + 'static,
{
    ConfigFile::open(path, process, apply).follow(every).await;
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
            Process::Routing,
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
        // The file as it is when following starts is applied once.
        wait(1).await;
        assert_eq!(*seen.lock().unwrap(), ["first"]);
        // A broken file (a deployment naming no provider) is refused: nothing applied.
        std::fs::write(
            &path,
            FILE.replace("provider = \"p\"", "provider = \"nope\""),
        )
        .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(*seen.lock().unwrap(), ["first"]);
        // A good change is applied.
        std::fs::write(&path, FILE.replace("\"first\"", "\"second\"")).unwrap();
        wait(2).await;
        assert_eq!(*seen.lock().unwrap(), ["first", "second"]);
        task.abort();
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[tokio::test]
    async fn a_check_on_demand_applies_a_changed_file_at_once_and_only_once() {
        let dir = std::env::temp_dir().join(format!("tg-check-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tollgate.toml");
        std::fs::write(&path, FILE).unwrap();
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = seen.clone();
        let file = ConfigFile::open(path.clone(), Process::Routing, move |c| {
            sink.lock()
                .map_err(|e| e.to_string())?
                .push(c.models[0].name.clone());
            Ok(())
        });
        // The first check applies what is there (it may be newer than what the service loaded).
        assert!(file.check().await);
        assert!(!file.check().await);
        std::fs::write(&path, FILE.replace("\"first\"", "\"renamed\"")).unwrap();
        assert!(file.check().await);
        assert!(!file.check().await);
        assert_eq!(*seen.lock().unwrap(), ["first", "renamed"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
