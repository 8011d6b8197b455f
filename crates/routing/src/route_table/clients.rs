//! The pooled HTTP clients the deployments call through: one per connect timeout (reqwest sets
//! it per client), kept across reloads so their connection pools (and TLS sessions) survive.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tollgate_config::RoutingConfig;

use crate::RoutingError;

/// HTTP clients by connect timeout.
#[derive(Default)]
pub(crate) struct Clients(Mutex<HashMap<Duration, reqwest::Client>>);

impl Clients {
    /// The client for deployments with this connect timeout, made on first use.
    pub(crate) fn get(
        &self,
        cfg: &RoutingConfig,
        connect: Duration,
    ) -> Result<reqwest::Client, RoutingError> {
        // Only taken while building a route table, never on a request.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = map.get(&connect) {
            return Ok(c.clone());
        }
        let c = client(cfg, connect)?;
        map.insert(connect, c.clone());
        Ok(c)
    }
}

/// An HTTP client shared by every deployment with this connect timeout.
fn client(cfg: &RoutingConfig, connect_timeout: Duration) -> Result<reqwest::Client, RoutingError> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
        .connect_timeout(connect_timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        // Provider URLs come from admin config; a redirect elsewhere is not followed.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(RoutingError::HttpClient)
}
