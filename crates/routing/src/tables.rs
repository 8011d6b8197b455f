//! The route table in force, and the few it replaced. A call is routed with the table of the
//! model directory the edge checked its model against (the call's `directory` fingerprint), so
//! across a hot reload a model exists for both the edge and routing or for neither:
//!
//! - routing reloaded first (a model removed): the edge's directory is one of the tables kept
//!   here for a while after they were replaced, and the call is routed with it;
//! - the edge reloaded first (a model added): routing checks the config file at once
//!   ([`ConfigFile::check`]) instead of waiting for its next poll, and routes with the new table.
//!
//! A fingerprint routing never had (an edge with another file) gets the current table.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use arc_swap::{ArcSwap, Guard};
use tollgate_config::watch::ConfigFile;

use crate::route_table::RouteTable;

/// Replaced tables kept for calls from edges that have not reloaded yet (an edge polls the same
/// file every `routing.reload_interval`, so one or two would do; a few cover bursts of edits).
const KEPT: usize = 4;

pub(crate) struct Tables {
    current: ArcSwap<RouteTable>,
    /// Newest first.
    replaced: Mutex<VecDeque<Arc<RouteTable>>>,
    /// The config file routing follows, when it follows one.
    file: OnceLock<Arc<ConfigFile>>,
}

impl Tables {
    pub(crate) fn new(table: RouteTable) -> Tables {
        Tables {
            current: ArcSwap::from_pointee(table),
            replaced: Mutex::new(VecDeque::with_capacity(KEPT)),
            file: OnceLock::new(),
        }
    }

    /// The table in force now.
    pub(crate) fn load(&self) -> Guard<Arc<RouteTable>> {
        self.current.load()
    }

    pub(crate) fn load_full(&self) -> Arc<RouteTable> {
        self.current.load_full()
    }

    /// Make `next` the table in force; the one it replaces is kept for edges still on it.
    pub(crate) fn store(&self, next: RouteTable) {
        let old = self.current.swap(Arc::new(next));
        if let Ok(mut replaced) = self.replaced.lock() {
            replaced.retain(|t| t.directory().fingerprint() != old.directory().fingerprint());
            replaced.push_front(old);
            replaced.truncate(KEPT);
        }
    }

    /// Follow `file` for on-demand catch-up (set once, by the reload watcher).
    pub(crate) fn follow(&self, file: Arc<ConfigFile>) {
        let _ = self.file.set(file);
    }

    /// The table whose model directory has `fingerprint` (0: the edge did not say).
    pub(crate) async fn for_directory(&self, fingerprint: u64) -> Arc<RouteTable> {
        let current = self.load_full();
        if fingerprint == 0 || current.directory().fingerprint() == fingerprint {
            return current;
        }
        drop(current);
        if let Some(t) = self.replaced_with(fingerprint) {
            return t;
        }
        // The edge is ahead: the file changed and routing has not polled it yet. Whichever
        // check applies the new file (this one, or the poll it waited for), the table in force
        // afterwards is the one to compare.
        if let Some(file) = self.file.get() {
            file.check().await;
        }
        self.load_full()
    }

    fn replaced_with(&self, fingerprint: u64) -> Option<Arc<RouteTable>> {
        let replaced = self.replaced.lock().ok()?;
        replaced
            .iter()
            .find(|t| t.directory().fingerprint() == fingerprint)
            .cloned()
    }
}
