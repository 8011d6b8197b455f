//! Hot reload of the route table: `tollgate_config::watch` polls the file; a good file swaps
//! the table in (calls in flight keep theirs), a bad one keeps the old.

use std::path::PathBuf;
use std::time::Duration;

use crate::service::RoutingService;

/// Watch `path` every `every` and reload `service` when it changes. Runs until dropped.
pub(crate) async fn watch(service: RoutingService, path: PathBuf, every: Duration) {
    tollgate_config::watch::watch(path, every, "routing", move |cfg| {
        service.reload(&cfg).map_err(|e| e.to_string())
    })
    .await;
}
