//! Hot reload: the config file is polled for changes (mtime and size); a good file swaps the
//! catalog in, a bad one is logged with the field named and the old catalog stays. Polling is
//! cheap, works on every filesystem and on Kubernetes ConfigMap symlink swaps.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use tollgate_config::Config;

use crate::service::RoutingService;

/// What identifies a version of the file without reading it.
async fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = tokio::fs::metadata(path).await.ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Watch `path` every `every` and reload `service` when it changes. Runs until dropped.
pub(crate) async fn watch(service: RoutingService, path: PathBuf, every: Duration) {
    let mut seen = stamp(&path).await;
    let mut tick = tokio::time::interval(every);
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
        let result = match loaded {
            Ok(Ok(cfg)) => match service.reload(&cfg) {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "configuration reloaded");
                    "ok"
                }
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %e, "configuration rejected; keeping the previous one");
                    "error"
                }
            },
            Ok(Err(e)) => {
                tracing::error!(path = %path.display(), error = %e, "configuration rejected; keeping the previous one");
                "error"
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration reload task failed");
                "error"
            }
        };
        metrics::counter!("tollgate_routing_config_reload_total", "result" => result).increment(1);
    }
}
