//! Service credentials: how Tollgate's services prove to each other that a gRPC call comes from
//! Tollgate, and how internal tooling gets read-only access to billing.
//!
//! A credential is a short-lived JWT signed with HMAC-SHA256 over `[internal] secret`, sent as
//! `authorization: Bearer …` metadata. Callers mint one and reuse it for minutes
//! ([`ServiceCredential`]); servers check the signature on every RPC ([`GrpcAuth`]). A JWT rather
//! than a bare shared secret on the wire: a leaked header is useless after `exp`, it names its
//! caller (`sub`) for the logs, and it carries a role, so a finance tool can be given a token
//! that reads spend and can never create a key. HS256 rather than a keypair per service: there
//! is exactly one trust domain and one secret to rotate, and any JWT library (PyJWT, jose) can
//! mint a token for a script.
//!
//! Nothing here logs or returns a token or the secret.

mod client;
mod layer;

use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tollgate_config::{InternalConfig, MIN_INTERNAL_SECRET_BYTES};

pub use client::ServiceCredential;
pub use layer::{AuthService, GrpcAuth, HEALTH_PREFIX, ServiceCaller};

/// The `aud` of every service credential: a token minted for some other purpose with the same
/// secret (say, a `[[jwt.issuers]]` shared secret someone reused) is not a service credential.
pub const AUDIENCE: &str = "tollgate-internal";

/// Clock skew tolerated between the minting and the checking host.
const LEEWAY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("internal.secret must be at least {MIN_INTERNAL_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("cannot sign a service credential: {0}")]
    Mint(jsonwebtoken::errors::Error),
    #[error("service credential expired")]
    Expired,
    // Deliberately one variant for every other failure (bad signature, audience, algorithm,
    // shape): telling a prober which check failed helps it, not the operator.
    #[error("invalid service credential")]
    Invalid,
}

/// What a credential may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A Tollgate service: every RPC.
    Service,
    /// Internal tooling: only the read-only queries a service allow-lists for readers.
    Reader,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Service => "service",
            Role::Reader => "reader",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "service" => Ok(Role::Service),
            "reader" => Ok(Role::Reader),
            _ => Err(format!("unknown role `{s}` (expected service or reader)")),
        }
    }
}

/// The claims of a service credential.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    /// Who is calling: a service name (`edge`) or a tool's name.
    pub sub: String,
    pub role: Role,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// The signing and checking key derived from `[internal] secret`.
#[derive(Clone)]
pub struct InternalKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl fmt::Debug for InternalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InternalKey(***)")
    }
}

impl InternalKey {
    pub fn new(secret: &[u8]) -> Result<InternalKey, AuthError> {
        if secret.len() < MIN_INTERNAL_SECRET_BYTES {
            return Err(AuthError::SecretTooShort);
        }
        // HS256 only: the `alg` of an incoming token is never trusted to pick the check.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        validation.leeway = LEEWAY.as_secs();
        Ok(InternalKey {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        })
    }

    /// The key of `[internal]`, or `None` when no secret is configured.
    pub fn from_config(cfg: &InternalConfig) -> Result<Option<InternalKey>, AuthError> {
        cfg.secret
            .as_ref()
            .map(|s| InternalKey::new(s.expose().as_bytes()))
            .transpose()
    }

    /// A credential for `sub` with `role`, valid for `ttl` from now.
    pub fn mint(&self, sub: &str, role: Role, ttl: Duration) -> Result<String, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(AuthError::Mint)
    }

    /// Check `token`'s signature (constant-time HMAC comparison), audience and expiry.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                _ => AuthError::Invalid,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> InternalKey {
        InternalKey::new(&[byte; 32]).unwrap()
    }

    #[test]
    fn a_minted_credential_verifies_with_the_same_secret_only() {
        let token = key(1)
            .mint("edge", Role::Service, Duration::from_secs(60))
            .unwrap();
        let claims = key(1).verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("edge", Role::Service));
        assert!(matches!(key(2).verify(&token), Err(AuthError::Invalid)));
    }

    #[test]
    fn expired_and_foreign_audience_tokens_are_refused() {
        let k = key(1);
        let now = jsonwebtoken::get_current_timestamp();
        let sign = |aud: &str, exp: u64| {
            let claims = Claims {
                sub: "edge".into(),
                role: Role::Service,
                aud: aud.into(),
                iat: now,
                exp,
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap()
        };
        assert!(matches!(
            k.verify(&sign(AUDIENCE, now - 120)),
            Err(AuthError::Expired)
        ));
        assert!(matches!(
            k.verify(&sign("other", now + 60)),
            Err(AuthError::Invalid)
        ));
        assert!(matches!(k.verify("not.a.jwt"), Err(AuthError::Invalid)));
    }

    #[test]
    fn a_short_secret_is_refused_and_the_key_never_prints() {
        assert!(matches!(
            InternalKey::new(b"short"),
            Err(AuthError::SecretTooShort)
        ));
        assert_eq!(format!("{:?}", key(1)), "InternalKey(***)");
    }
}
