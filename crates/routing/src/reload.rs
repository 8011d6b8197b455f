//! Hot reload of the route table: `tollgate_config::watch` polls the file; a good file swaps
//! the table in (calls in flight keep theirs), a bad one keeps the old.

use std::path::PathBuf;
use std::sync::Arc;

use tollgate_config::Process;
use tollgate_config::watch::ConfigFile;

use crate::service::RoutingService;

/// The config file at `path`, reloading `service` when it changes: on every poll
/// (`ConfigFile::follow`) and whenever a call names a model directory routing does not have
/// yet (see `tables.rs`), which works from the moment this returns.
pub(crate) fn follow(service: &RoutingService, path: PathBuf) -> Arc<ConfigFile> {
    let reloaded = service.clone();
    let file = ConfigFile::open(path, Process::Routing, move |cfg| {
        reloaded.reload(&cfg).map_err(|e| e.to_string())
    });
    service.follow(file.clone());
    file
}
