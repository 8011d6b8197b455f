//! JWT callers: a bearer token from a configured issuer becomes the same `KeyEntry` identity an
//! API key produces, with the tenant taken only from the issuer's configuration (a fixed tenant,
//! or a claim checked against the issuer's `allowed_tenants`).
//!
//! Verification is in memory: signature against the issuer's cached keys, looked up by
//! (iss, kid) only; `alg` on the issuer's allow-list (never `none`; HS* only with an internal
//! issuer's shared secret); `exp`, `iss` and `aud` required; `nbf` checked; leeway per issuer.
//! `jku`, `x5u` and embedded `jwk` headers are ignored. A bad token is a 401 `invalid_token`; an
//! IdP whose keys cannot be fetched is a 503. The token itself is never logged.

mod keys;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tollgate_config::{JwtConfig, JwtIssuerConfig, is_uuid};
use tollgate_domain::Identity;

use crate::error::ApiError;
use crate::snapshot::KeyEntry;

pub use keys::{Jwks, KeyStore, VerifyKey};

/// The longest user id taken from a claim.
const MAX_USER_ID: usize = 256;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    #[error("the token lacks a role this gateway requires")]
    MissingRole,
    #[error("the issuer's signing keys cannot be fetched")]
    KeysUnavailable,
}

impl From<JwtError> for ApiError {
    fn from(e: JwtError) -> Self {
        match e {
            JwtError::Invalid(reason) => ApiError::InvalidToken(reason),
            JwtError::MissingRole => ApiError::InsufficientRole,
            JwtError::KeysUnavailable => {
                ApiError::Unavailable("the identity provider's signing keys cannot be fetched")
            }
        }
    }
}

/// A configured key that cannot be used; the edge refuses to start.
#[derive(Debug, thiserror::Error)]
#[error("`{field}`: {message}")]
pub struct JwtSetupError {
    pub field: String,
    pub message: String,
}

enum TenantRule {
    Fixed(String),
    Claim { claim: String, allowed: Vec<String> },
}

/// One configured issuer, ready to verify.
pub struct Issuer {
    /// One validation per allowed algorithm: the library insists every algorithm of a
    /// `Validation` belongs to the key's family, and this also pins the header's `alg`.
    validations: Vec<(Algorithm, Validation)>,
    keys: KeyStore,
    hmac: Option<Arc<VerifyKey>>,
    tenant: TenantRule,
    team_claim: Option<String>,
    user_claim: String,
    roles_claim: Option<String>,
    required_roles: Vec<String>,
    /// The role that makes a token a tenant admin (admin API, own tenant only).
    admin_role: Option<String>,
    /// `jwt:<hash of iss>`: the key id JWT callers of this issuer are limited and billed under.
    key_id: String,
    rpm_limit: u32,
    concurrency_limit: u32,
    log_content: bool,
}

/// Every configured issuer, by exact `iss`.
pub struct JwtAuth {
    issuers: HashMap<String, Issuer>,
}

/// A bearer is tried as a JWT only when it is not an API key and has the three-part JWS shape.
pub fn looks_like_jwt(token: &str) -> bool {
    !token.starts_with("tg-") && token.bytes().filter(|b| *b == b'.').count() == 2
}

fn static_key(text: &str) -> Result<VerifyKey, String> {
    let text = text.trim();
    if text.starts_with('{') {
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_str(text).map_err(|e| format!("not a JWK: {e}"))?;
        return keys::from_jwk(&jwk).ok_or_else(|| "not a usable public signing key".into());
    }
    let pem = text.as_bytes();
    let key = DecodingKey::from_rsa_pem(pem)
        .or_else(|_| DecodingKey::from_ec_pem(pem))
        .or_else(|_| DecodingKey::from_ed_pem(pem))
        .map_err(|_| "not a PEM public key (RSA, EC or Ed25519) nor a JWK".to_owned())?;
    Ok(VerifyKey { key, alg: None })
}

impl Issuer {
    fn build(
        i: usize,
        c: &JwtIssuerConfig,
        http: &reqwest::Client,
    ) -> Result<Issuer, JwtSetupError> {
        let err = |field: String, message: String| JwtSetupError {
            field: format!("jwt.issuers[{i}].{field}"),
            message,
        };
        let algorithms = c
            .algorithms
            .iter()
            .map(|a| {
                Algorithm::from_str(a)
                    .map_err(|_| err("algorithms".into(), format!("unknown algorithm `{a}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let validations = algorithms
            .into_iter()
            .map(|alg| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[&c.issuer]);
                v.set_audience(&c.audiences);
                v.set_required_spec_claims(&["exp", "iss", "aud"]);
                v.validate_exp = true;
                v.validate_nbf = true;
                v.validate_aud = true;
                v.leeway = c.leeway.as_secs();
                (alg, v)
            })
            .collect();

        let mut fixed = HashMap::new();
        for (j, k) in c.static_keys.iter().enumerate() {
            let key =
                static_key(k.key.expose()).map_err(|m| err(format!("static_keys[{j}].key"), m))?;
            fixed.insert(k.kid.clone(), Arc::new(key));
        }
        let jwks = c
            .jwks_url
            .as_ref()
            .map(|u| Arc::new(Jwks::new(u.clone(), http.clone(), c.jwks_cooldown)));
        let hmac = c.shared_secret.as_ref().map(|s| {
            Arc::new(VerifyKey {
                key: DecodingKey::from_secret(s.expose().as_bytes()),
                alg: None,
            })
        });
        let tenant = match (&c.tenant_id, &c.tenant_claim) {
            (Some(t), _) => TenantRule::Fixed(t.to_ascii_lowercase()),
            (None, Some(claim)) => TenantRule::Claim {
                claim: claim.clone(),
                allowed: c
                    .allowed_tenants
                    .iter()
                    .map(|t| t.to_ascii_lowercase())
                    .collect(),
            },
            (None, None) => {
                return Err(err(
                    "tenant_id".into(),
                    "set `tenant_id` or `tenant_claim`".into(),
                ));
            }
        };
        let digest = Sha256::digest(c.issuer.as_bytes());
        Ok(Issuer {
            validations,
            keys: KeyStore { fixed, jwks },
            hmac,
            tenant,
            team_claim: c.team_claim.clone(),
            user_claim: c.user_claim.clone(),
            roles_claim: c.roles_claim.clone(),
            required_roles: c.required_roles.clone(),
            admin_role: c.admin_role.clone(),
            key_id: format!("jwt:{}", &hex::encode(digest)[..16]),
            rpm_limit: c.rpm_limit,
            concurrency_limit: c.concurrency_limit,
            log_content: c.log_content,
        })
    }

    /// Verify the token's signature and claims with this issuer's keys and rules.
    async fn verify(&self, token: &str) -> Result<Map<String, Value>, JwtError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid("malformed token"))?;
        // Critical header extensions we do not implement must not be ignored (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(JwtError::Invalid("unsupported critical header"));
        }
        let validation = self
            .validations
            .iter()
            .find(|(a, _)| *a == header.alg)
            .map(|(_, v)| v)
            .ok_or(JwtError::Invalid("algorithm not allowed"))?;
        let key = if header.alg.family() == AlgorithmFamily::Hmac {
            self.hmac
                .clone()
                .ok_or(JwtError::Invalid("algorithm not allowed"))?
        } else {
            let kid = header
                .kid
                .as_deref()
                .ok_or(JwtError::Invalid("the token names no key (kid)"))?;
            self.keys.get(kid).await?
        };
        if !key.accepts(header.alg) {
            return Err(JwtError::Invalid(
                "algorithm does not match the signing key",
            ));
        }
        jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, validation)
            .map(|d| d.claims)
            .map_err(|e| {
                JwtError::Invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not yet valid",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::MissingRequiredClaim(_) => {
                        "a required claim (exp, iss, aud) is missing"
                    }
                    ErrorKind::InvalidAlgorithm => "algorithm not allowed",
                    _ => "malformed token",
                })
            })
    }

    /// The tenant a verified token acts for: the issuer's own, or its claim if allowed.
    fn tenant_of(&self, claims: &Map<String, Value>) -> Result<String, JwtError> {
        Ok(match &self.tenant {
            TenantRule::Fixed(t) => t.clone(),
            TenantRule::Claim {
                claim: name,
                allowed,
            } => {
                let t = claim(claims, name)
                    .and_then(as_text)
                    .ok_or(JwtError::Invalid("the tenant claim is missing"))?
                    .to_ascii_lowercase();
                if !allowed.contains(&t) {
                    return Err(JwtError::Invalid("this issuer may not act for that tenant"));
                }
                t
            }
        })
    }

    fn roles_of(&self, claims: &Map<String, Value>) -> Vec<String> {
        self.roles_claim
            .as_deref()
            .and_then(|n| claim(claims, n))
            .map(roles)
            .unwrap_or_default()
    }

    /// The tenant a verified token may administer: only with the issuer's admin role.
    fn admin_tenant(&self, claims: &Map<String, Value>) -> Result<String, JwtError> {
        let tenant = self.tenant_of(claims)?;
        match &self.admin_role {
            Some(role) if self.roles_of(claims).contains(role) => Ok(tenant),
            _ => Err(JwtError::MissingRole),
        }
    }

    /// Map verified claims to the caller's identity and limits.
    fn caller(&self, claims: &Map<String, Value>) -> Result<Arc<KeyEntry>, JwtError> {
        let tenant_id = self.tenant_of(claims)?;
        let team_id = match self.team_claim.as_deref().and_then(|n| claim(claims, n)) {
            None => String::new(),
            Some(v) => match as_text(v) {
                Some(t) if is_uuid(&t) => t.to_ascii_lowercase(),
                _ => return Err(JwtError::Invalid("the team claim is not a team id")),
            },
        };
        let user_id = claim(claims, &self.user_claim)
            .and_then(as_text)
            .unwrap_or_default();
        if user_id.len() > MAX_USER_ID {
            return Err(JwtError::Invalid("the user claim is too long"));
        }
        if !self.required_roles.is_empty() {
            let roles = self.roles_of(claims);
            if !roles.iter().any(|r| self.required_roles.contains(r)) {
                return Err(JwtError::MissingRole);
            }
        }
        Ok(Arc::new(KeyEntry {
            key_hash: String::new(),
            identity: Identity {
                tenant_id,
                team_id,
                key_id: self.key_id.clone(),
                user_id,
            },
            rpm_limit: self.rpm_limit,
            concurrency_limit: self.concurrency_limit,
            log_content: self.log_content,
            // A token's own `exp` bounds it; its issuer grants every model.
            expires_at: None,
            allowed_models: Vec::new(),
        }))
    }
}

/// A claim by exact name (namespaced claims such as `https://example.com/tenant` contain dots),
/// else by dotted path into nested objects (`realm_access.roles`).
fn claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut v = claims.get(parts.next()?)?;
    for p in parts {
        v = v.as_object()?.get(p)?;
    }
    Some(v)
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Roles as a list of strings, or one space-separated string (OAuth `scope` style).
fn roles(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s.split_whitespace().map(str::to_owned).collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|r| r.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl JwtAuth {
    /// Build every issuer; `None` when none is configured (bearers are then API keys only).
    pub fn from_config(cfg: &JwtConfig) -> Result<Option<JwtAuth>, JwtSetupError> {
        if cfg.issuers.is_empty() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(3))
            .build()
            .map_err(|e| JwtSetupError {
                field: "jwt.issuers".into(),
                message: format!("cannot build the JWKS client: {e}"),
            })?;
        let mut issuers = HashMap::new();
        for (i, c) in cfg.issuers.iter().enumerate() {
            issuers.insert(c.issuer.clone(), Issuer::build(i, c, &http)?);
        }
        Ok(Some(JwtAuth { issuers }))
    }

    /// Start each issuer's background JWKS refresh (the first fetch runs at once).
    pub fn spawn_refresh(&self, cfg: &JwtConfig, tracker: &TaskTracker, stop: &CancellationToken) {
        for c in &cfg.issuers {
            if let Some(j) = self
                .issuers
                .get(&c.issuer)
                .and_then(|i| i.keys.jwks.clone())
            {
                tracker.spawn(j.keep_fresh(c.jwks_refresh, stop.clone()));
            }
        }
    }

    /// The JWKS cache of `iss`, if it has one.
    #[cfg(test)]
    pub fn jwks(&self, iss: &str) -> Option<&Arc<Jwks>> {
        self.issuers.get(iss)?.keys.jwks.as_ref()
    }

    /// Authenticate a bearer JWT for the admin API: the one tenant it may administer. A valid
    /// token without the issuer's `admin_role` is [`JwtError::MissingRole`] (403).
    pub async fn authenticate_admin(&self, token: &str) -> Result<String, JwtError> {
        let (issuer, claims) = self.verified(token).await?;
        issuer.admin_tenant(&claims)
    }

    /// Authenticate a bearer JWT.
    pub async fn authenticate(&self, token: &str) -> Result<Arc<KeyEntry>, JwtError> {
        let (issuer, claims) = self.verified(token).await?;
        issuer.caller(&claims)
    }

    async fn verified(&self, token: &str) -> Result<(&Issuer, Map<String, Value>), JwtError> {
        #[derive(serde::Deserialize)]
        struct Unverified {
            iss: Option<String>,
        }
        // Only to pick the issuer whose keys and rules then verify everything.
        let unverified: Unverified = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| JwtError::Invalid("malformed token"))?;
        let issuer = unverified
            .iss
            .as_deref()
            .and_then(|iss| self.issuers.get(iss))
            .ok_or(JwtError::Invalid("unknown issuer"))?;
        let claims = issuer.verify(token).await?;
        Ok((issuer, claims))
    }
}
