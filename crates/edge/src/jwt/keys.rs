//! One issuer's verification keys, by `kid`: static keys from the config and/or the issuer's
//! JWKS, cached in memory. The JWKS is fetched at start and every `jwks_refresh` in the
//! background; a token naming an unknown `kid` triggers one more fetch, single-flight (callers
//! queue on one lock and the first does the fetch) and at most once per `jwks_cooldown`, so a
//! flood of made-up kids cannot hammer the IdP. Keys are only ever looked up by (issuer, kid):
//! a token's `jku`, `x5u` or embedded `jwk` header is never followed.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use tokio_util::sync::CancellationToken;

use super::JwtError;

/// A JWKS larger than this is refused (an IdP publishes a handful of keys).
const MAX_JWKS_BYTES: usize = 1024 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// A key able to verify signatures of one algorithm family (and, when the JWK says so, one
/// algorithm only).
pub struct VerifyKey {
    pub key: DecodingKey,
    pub alg: Option<Algorithm>,
}

impl VerifyKey {
    pub fn accepts(&self, alg: Algorithm) -> bool {
        self.key.family() == alg.family() && self.alg.is_none_or(|a| a == alg)
    }
}

type KeyMap = HashMap<String, Arc<VerifyKey>>;

/// Parse one JWK for verification; `None` for keys we must not use (encryption keys, symmetric
/// keys, unknown algorithms).
pub fn from_jwk(jwk: &Jwk) -> Option<VerifyKey> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(ka) => Some(Algorithm::from_str(&ka.to_string()).ok()?),
        None => None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    // Symmetric keys come only from `shared_secret`, never from a key set.
    if key.family() == AlgorithmFamily::Hmac {
        return None;
    }
    Some(VerifyKey { key, alg })
}

/// Parse a JWKS document, keeping the usable keys that have a `kid`. One odd key does not spoil
/// the set.
pub fn parse_jwks(body: &[u8]) -> Result<KeyMap, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut out = HashMap::new();
    for v in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(v) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Some(k) = from_jwk(&jwk) {
            out.insert(kid, Arc::new(k));
        }
    }
    Ok(out)
}

struct FetchState {
    /// When the last fetch asked for by an unknown kid ran (the cooldown's clock).
    last_on_demand: Option<Instant>,
    last_failed: bool,
}

/// The cached JWKS of one issuer.
pub struct Jwks {
    url: String,
    http: reqwest::Client,
    current: ArcSwapOption<KeyMap>,
    /// Single flight: whoever holds this is the one fetching.
    fetch: tokio::sync::Mutex<FetchState>,
    cooldown: Duration,
    fetches: AtomicU64,
}

impl Jwks {
    pub fn new(url: String, http: reqwest::Client, cooldown: Duration) -> Self {
        Jwks {
            url,
            http,
            current: ArcSwapOption::empty(),
            fetch: tokio::sync::Mutex::new(FetchState {
                last_on_demand: None,
                last_failed: false,
            }),
            cooldown,
            fetches: AtomicU64::new(0),
        }
    }

    /// How many times the JWKS was fetched.
    #[cfg(test)]
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub(crate) fn cached(&self, kid: &str) -> Option<Arc<VerifyKey>> {
        self.current.load().as_ref()?.get(kid).cloned()
    }

    async fn fetch_once(&self) -> Result<KeyMap, String> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("tollgate_jwks_fetches_total").increment(1);
        let resp = self
            .http
            .get(&self.url)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("status {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
        {
            return Err("key set too large".into());
        }
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("key set too large".into());
        }
        parse_jwks(&body)
    }

    /// Fetch and install the key set (background refresh). Keeps the old keys on failure.
    pub async fn refresh(&self) -> Result<usize, String> {
        let mut st = self.fetch.lock().await;
        let r = self.fetch_once().await;
        st.last_failed = r.is_err();
        match r {
            Ok(keys) => {
                let n = keys.len();
                self.current.store(Some(Arc::new(keys)));
                Ok(n)
            }
            Err(e) => Err(e),
        }
    }

    /// The key for `kid`: from the cache, or after one single-flight, rate-limited fetch.
    pub async fn get(&self, kid: &str) -> Result<Arc<VerifyKey>, JwtError> {
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let mut st = self.fetch.lock().await;
        // Whoever held the lock before us may have fetched the key we need.
        if let Some(k) = self.cached(kid) {
            return Ok(k);
        }
        let loaded = self.current.load().is_some();
        if st
            .last_on_demand
            .is_some_and(|t| t.elapsed() < self.cooldown)
        {
            return Err(if loaded && !st.last_failed {
                JwtError::Invalid("unknown signing key")
            } else {
                JwtError::KeysUnavailable
            });
        }
        st.last_on_demand = Some(Instant::now());
        match self.fetch_once().await {
            Ok(keys) => {
                st.last_failed = false;
                let found = keys.get(kid).cloned();
                self.current.store(Some(Arc::new(keys)));
                found.ok_or(JwtError::Invalid("unknown signing key"))
            }
            Err(e) => {
                st.last_failed = true;
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed");
                metrics::counter!("tollgate_jwks_fetch_failures_total").increment(1);
                // An IdP we cannot reach is an infrastructure problem, never a 401.
                Err(JwtError::KeysUnavailable)
            }
        }
    }

    /// Refresh every `every` until `stop`; after a failure, try again after the cooldown.
    pub async fn keep_fresh(self: Arc<Self>, every: Duration, stop: CancellationToken) {
        loop {
            let wait = match self.refresh().await {
                Ok(n) => {
                    tracing::debug!(url = %self.url, keys = n, "JWKS refreshed");
                    every
                }
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, "JWKS refresh failed; keeping the cached keys");
                    metrics::counter!("tollgate_jwks_fetch_failures_total").increment(1);
                    let floor = Duration::from_secs(1);
                    self.cooldown.max(floor).min(every.max(floor))
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}

/// Every key source of one issuer.
pub struct KeyStore {
    pub fixed: KeyMap,
    pub jwks: Option<Arc<Jwks>>,
}

impl KeyStore {
    pub async fn get(&self, kid: &str) -> Result<Arc<VerifyKey>, JwtError> {
        if let Some(k) = self.fixed.get(kid) {
            return Ok(k.clone());
        }
        match &self.jwks {
            Some(j) => j.get(kid).await,
            None => Err(JwtError::Invalid("unknown signing key")),
        }
    }
}
