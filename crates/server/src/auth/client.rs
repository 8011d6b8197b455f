//! The calling side: a cached `authorization` value added to every outgoing RPC.
//!
//! The edge → routing call is the hot path, so a call never signs anything: the header value is
//! minted once, shared by every clone, and re-minted only when it is half-way through its life.
//! A call costs one atomic load, one clock read and one reference-count bump.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

use super::{AuthError, InternalKey, Role};

/// How long a minted service credential is valid: short, so a leaked header soon stops working.
pub const TOKEN_TTL: Duration = Duration::from_secs(10 * 60);
/// When the cached credential is replaced: half-way, so a slow clock or a long call never carries
/// an expired one.
const REFRESH_AFTER: Duration = Duration::from_secs(5 * 60);

/// A tonic interceptor adding this service's credential to every call; `none()` adds nothing
/// (no `[internal] secret` configured). Cheap to clone: all clones share one cache.
#[derive(Clone, Debug, Default)]
pub struct ServiceCredential(Option<Arc<Minter>>);

struct Minter {
    key: InternalKey,
    service: &'static str,
    current: ArcSwap<Cached>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Minter({}, ***)", self.service)
    }
}

struct Cached {
    header: AsciiMetadataValue,
    refresh_at: Instant,
}

impl ServiceCredential {
    pub fn none() -> ServiceCredential {
        ServiceCredential(None)
    }

    /// Credentials for `service`, minted now so a broken key fails at start, not on a call.
    pub fn new(key: InternalKey, service: &'static str) -> Result<ServiceCredential, AuthError> {
        let first = mint(&key, service)?;
        Ok(ServiceCredential(Some(Arc::new(Minter {
            key,
            service,
            current: ArcSwap::from_pointee(first),
        }))))
    }

    /// From `[internal]`: [`none`](Self::none) when no secret is configured.
    pub fn from_config(
        cfg: &tollgate_config::InternalConfig,
        service: &'static str,
    ) -> Result<ServiceCredential, AuthError> {
        match InternalKey::from_config(cfg)? {
            Some(key) => ServiceCredential::new(key, service),
            None => Ok(ServiceCredential::none()),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.0.is_some()
    }

    /// The current `authorization` value, re-minted first when due.
    pub fn header(&self) -> Option<AsciiMetadataValue> {
        let minter = self.0.as_ref()?;
        let cached = minter.current.load();
        if Instant::now() < cached.refresh_at {
            return Some(cached.header.clone());
        }
        // Two calls crossing the deadline together may both mint; both results are valid and the
        // last store wins, which is cheaper than a lock on every call.
        match mint(&minter.key, minter.service) {
            Ok(fresh) => {
                let header = fresh.header.clone();
                minter.current.store(Arc::new(fresh));
                Some(header)
            }
            Err(e) => {
                // The old credential is still valid for the rest of its TTL.
                tracing::warn!(error = %e, "cannot refresh the service credential");
                Some(cached.header.clone())
            }
        }
    }
}

fn mint(key: &InternalKey, service: &'static str) -> Result<Cached, AuthError> {
    let token = key.mint(service, Role::Service, TOKEN_TTL)?;
    // A JWT is base64url and dots: always a valid ASCII header value.
    let header =
        MetadataValue::try_from(format!("Bearer {token}")).map_err(|_| AuthError::Invalid)?;
    Ok(Cached {
        header,
        refresh_at: Instant::now() + REFRESH_AFTER,
    })
}

impl Interceptor for ServiceCredential {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = self.header() {
            req.metadata_mut().insert("authorization", value);
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_cached_and_verifies() {
        let key = InternalKey::new(&[3; 32]).unwrap();
        let cred = ServiceCredential::new(key.clone(), "edge").unwrap();
        let first = cred.header().unwrap();
        assert_eq!(
            cred.clone().header().unwrap(),
            first,
            "clones share one cache"
        );
        let token = first.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        assert_eq!(key.verify(token).unwrap().sub, "edge");
    }

    #[test]
    fn an_unconfigured_credential_adds_nothing() {
        let mut cred = ServiceCredential::none();
        let req = cred.call(Request::new(())).unwrap();
        assert!(req.metadata().get("authorization").is_none());
    }
}
