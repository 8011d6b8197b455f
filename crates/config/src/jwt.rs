//! `[[jwt.issuers]]`: identity providers whose JWTs the edge accepts instead of an API key.
//!
//! Each issuer names its exact `iss`, the audiences it must carry, where its public keys come
//! from (a JWKS URL, static keys, or, for an internal issuer only, a shared HMAC secret), the
//! algorithms it may use, and how its claims map to a Tollgate identity. The tenant of a JWT
//! caller is never free: either the issuer belongs to one tenant (`tenant_id`), or the tenant is
//! read from a claim and must be one of `allowed_tenants`, so one tenant's IdP can never act for
//! another tenant. Key material is parsed by the edge; this module checks the shape.

use std::collections::HashSet;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, SecretRef};

/// Asymmetric algorithms an external issuer may use.
pub const ASYMMETRIC_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// HMAC algorithms, allowed only with `shared_secret` (an internal issuer).
pub const HMAC_ALGORITHMS: [&str; 3] = ["HS256", "HS384", "HS512"];
/// The least length of an HMAC `shared_secret`, in bytes.
pub const MIN_SHARED_SECRET_BYTES: usize = 32;

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    pub issuers: Vec<JwtIssuerConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtIssuerConfig {
    /// The exact `iss` claim.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one. Required.
    pub audiences: Vec<String>,
    /// Where to fetch the issuer's JWKS (fetched at start, refreshed every `jwks_refresh`, and
    /// once more, single-flight, when a token names an unknown `kid`).
    pub jwks_url: Option<String>,
    /// Public keys given in the config, each by `kid`.
    pub static_keys: Vec<StaticKeyConfig>,
    /// Internal issuers only: the HMAC secret for HS256/384/512 (at least 32 bytes).
    pub shared_secret: Option<SecretRef>,
    /// The allow-list of `alg` values. `none` is never allowed; HS* only with `shared_secret`.
    pub algorithms: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// How often the JWKS is fetched again in the background.
    #[serde(with = "humantime_serde")]
    pub jwks_refresh: Duration,
    /// The least time between two fetches triggered by unknown `kid`s, so a flood of tokens
    /// with made-up kids cannot hammer the IdP.
    #[serde(with = "humantime_serde")]
    pub jwks_cooldown: Duration,
    /// Every token of this issuer acts for this tenant (a company IdP belongs to one tenant).
    pub tenant_id: Option<String>,
    /// Or: the claim holding the tenant id, which must be one of `allowed_tenants`.
    pub tenant_claim: Option<String>,
    pub allowed_tenants: Vec<String>,
    /// The claim holding the team id (a Tollgate team UUID). Optional.
    pub team_claim: Option<String>,
    /// The claim holding the user id.
    pub user_claim: String,
    /// The claim holding the caller's roles (a string or a list of strings).
    pub roles_claim: Option<String>,
    /// When not empty, a token must carry at least one of these roles.
    pub required_roles: Vec<String>,
    /// A token carrying this role (in `roles_claim`) may use the admin API for its own tenant
    /// only (a tenant admin); unset = this issuer's tokens are never admins.
    pub admin_role: Option<String>,
    /// Requests per minute shared by this issuer's callers; 0 = `edge.limits.default_rpm`.
    pub rpm_limit: u32,
    /// Concurrent requests for this issuer's callers; 0 = `edge.limits.default_concurrency`.
    pub concurrency_limit: u32,
    /// Keep prompt and completion text in request logs for these callers.
    pub log_content: bool,
}

impl Default for JwtIssuerConfig {
    fn default() -> Self {
        JwtIssuerConfig {
            issuer: String::new(),
            audiences: Vec::new(),
            jwks_url: None,
            static_keys: Vec::new(),
            shared_secret: None,
            algorithms: vec!["RS256".into(), "ES256".into()],
            leeway: Duration::from_secs(30),
            jwks_refresh: Duration::from_secs(300),
            jwks_cooldown: Duration::from_secs(10),
            tenant_id: None,
            tenant_claim: None,
            allowed_tenants: Vec::new(),
            team_claim: None,
            user_claim: "sub".into(),
            roles_claim: None,
            required_roles: Vec::new(),
            admin_role: None,
            rpm_limit: 0,
            concurrency_limit: 0,
            log_content: false,
        }
    }
}

/// One public key given in the config.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticKeyConfig {
    pub kid: String,
    /// A PEM public key (`-----BEGIN PUBLIC KEY-----`) or one JWK as JSON; inline, `file:/path`
    /// or `env:NAME`.
    pub key: SecretRef,
}

fn invalid(field: String, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        message: message.into(),
    }
}

/// A canonical UUID (what tenant and team ids are).
pub fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

pub(crate) fn check(jwt: &JwtConfig) -> Result<(), ConfigError> {
    let mut seen = HashSet::new();
    for (i, iss) in jwt.issuers.iter().enumerate() {
        let f = |name: &str| format!("jwt.issuers[{i}].{name}");
        if iss.issuer.is_empty() {
            return Err(invalid(f("issuer"), "must not be empty"));
        }
        if !seen.insert(iss.issuer.as_str()) {
            return Err(invalid(
                f("issuer"),
                format!("issuer `{}` is configured twice", iss.issuer),
            ));
        }
        if iss.audiences.is_empty() || iss.audiences.iter().any(String::is_empty) {
            return Err(invalid(
                f("audiences"),
                "list at least one audience; tokens must carry one of them",
            ));
        }
        check_algorithms(iss, &f)?;
        check_keys(iss, &f)?;
        check_tenancy(iss, &f)?;
        if iss.user_claim.is_empty() {
            return Err(invalid(f("user_claim"), "must not be empty"));
        }
        if !iss.required_roles.is_empty() && iss.roles_claim.is_none() {
            return Err(invalid(f("required_roles"), "needs `roles_claim`"));
        }
        if let Some(role) = &iss.admin_role {
            if role.trim().is_empty() {
                return Err(invalid(f("admin_role"), "must not be empty"));
            }
            if iss.roles_claim.is_none() {
                return Err(invalid(f("admin_role"), "needs `roles_claim`"));
            }
        }
        if iss.leeway > Duration::from_secs(300) {
            return Err(invalid(f("leeway"), "must be at most 5m"));
        }
        if iss.jwks_refresh < Duration::from_secs(1) {
            return Err(invalid(f("jwks_refresh"), "must be at least 1s"));
        }
    }
    Ok(())
}

fn check_algorithms(iss: &JwtIssuerConfig, f: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if iss.algorithms.is_empty() {
        return Err(invalid(f("algorithms"), "list at least one algorithm"));
    }
    for a in &iss.algorithms {
        if a.eq_ignore_ascii_case("none") {
            return Err(invalid(f("algorithms"), "`none` is never allowed"));
        }
        if HMAC_ALGORITHMS.contains(&a.as_str()) {
            if iss.shared_secret.is_none() {
                return Err(invalid(
                    f("algorithms"),
                    format!(
                        "`{a}` needs `shared_secret`: HMAC is for internal issuers only; external issuers must sign with asymmetric keys"
                    ),
                ));
            }
        } else if !ASYMMETRIC_ALGORITHMS.contains(&a.as_str()) {
            return Err(invalid(f("algorithms"), format!("unknown algorithm `{a}`")));
        }
    }
    Ok(())
}

fn check_keys(iss: &JwtIssuerConfig, f: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if let Some(secret) = &iss.shared_secret {
        if secret.is_resolved() && secret.expose().len() < MIN_SHARED_SECRET_BYTES {
            return Err(invalid(
                f("shared_secret"),
                format!("must be at least {MIN_SHARED_SECRET_BYTES} bytes"),
            ));
        }
        if !iss
            .algorithms
            .iter()
            .any(|a| HMAC_ALGORITHMS.contains(&a.as_str()))
        {
            return Err(invalid(
                f("shared_secret"),
                "is set but `algorithms` allows no HS* algorithm",
            ));
        }
    }
    if let Some(url) = &iss.jwks_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(invalid(f("jwks_url"), "must be an http:// or https:// URL"));
    }
    let mut kids = HashSet::new();
    for (j, k) in iss.static_keys.iter().enumerate() {
        if k.kid.is_empty() || !kids.insert(k.kid.as_str()) {
            return Err(invalid(
                f(&format!("static_keys[{j}].kid")),
                "must be non-empty and unique",
            ));
        }
        if k.key.is_empty() {
            return Err(invalid(
                f(&format!("static_keys[{j}].key")),
                "must not be empty",
            ));
        }
    }
    let asymmetric = iss
        .algorithms
        .iter()
        .any(|a| ASYMMETRIC_ALGORITHMS.contains(&a.as_str()));
    if asymmetric && iss.jwks_url.is_none() && iss.static_keys.is_empty() {
        return Err(invalid(
            f("jwks_url"),
            "set `jwks_url` or `static_keys` for the asymmetric algorithms allowed",
        ));
    }
    Ok(())
}

fn check_tenancy(iss: &JwtIssuerConfig, f: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    match (&iss.tenant_id, &iss.tenant_claim) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(invalid(
                f("tenant_id"),
                "set exactly one of `tenant_id` (the issuer's tenant) or `tenant_claim` (with `allowed_tenants`)",
            ));
        }
        (Some(t), None) => {
            if !is_uuid(t) {
                return Err(invalid(f("tenant_id"), "must be a tenant id (a UUID)"));
            }
            if !iss.allowed_tenants.is_empty() {
                return Err(invalid(
                    f("allowed_tenants"),
                    "only applies with `tenant_claim`",
                ));
            }
        }
        (None, Some(claim)) => {
            if claim.is_empty() {
                return Err(invalid(f("tenant_claim"), "must not be empty"));
            }
            if iss.allowed_tenants.is_empty() {
                return Err(invalid(
                    f("allowed_tenants"),
                    "list the tenants this issuer may act for; required with `tenant_claim`",
                ));
            }
            if let Some((j, _)) = iss
                .allowed_tenants
                .iter()
                .enumerate()
                .find(|(_, t)| !is_uuid(t))
            {
                return Err(invalid(
                    f(&format!("allowed_tenants[{j}]")),
                    "must be a tenant id (a UUID)",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Config;

    const T: &str = "0192f0c1-7c1e-7a51-9d2e-6f1d2c3b4a59";

    fn err(extra: &str) -> String {
        let toml = format!(
            "[[jwt.issuers]]\nissuer = \"https://idp.example\"\naudiences = [\"tollgate\"]\njwks_url = \"https://idp.example/jwks\"\n{extra}"
        );
        match Config::from_toml(&toml) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_fixed_tenant_issuer_is_valid_with_defaults() {
        let cfg = Config::from_toml(&format!(
            "[[jwt.issuers]]\nissuer = \"https://idp.example\"\naudiences = [\"tollgate\"]\njwks_url = \"https://idp.example/jwks\"\ntenant_id = \"{T}\"\nleeway = \"10s\""
        ))
        .unwrap();
        let i = &cfg.jwt.issuers[0];
        assert_eq!(i.algorithms, ["RS256", "ES256"]);
        assert_eq!(i.user_claim, "sub");
        assert_eq!(i.leeway.as_secs(), 10);
        assert_eq!(i.jwks_refresh.as_secs(), 300);
        assert!(!i.log_content);
    }

    #[test]
    fn none_and_unguarded_hmac_are_refused_by_field() {
        let e = err(&format!("tenant_id = \"{T}\"\nalgorithms = [\"none\"]"));
        assert!(
            e.contains("jwt.issuers[0].algorithms") && e.contains("none"),
            "{e}"
        );
        let e = err(&format!("tenant_id = \"{T}\"\nalgorithms = [\"HS256\"]"));
        assert!(
            e.contains("jwt.issuers[0].algorithms") && e.contains("shared_secret"),
            "{e}"
        );
        // An internal issuer with a long enough secret may use HS256.
        let ok = err(&format!(
            "tenant_id = \"{T}\"\nalgorithms = [\"HS256\"]\nshared_secret = \"{}\"",
            "s".repeat(32)
        ));
        assert_eq!(ok, "ok");
        let e = err(&format!(
            "tenant_id = \"{T}\"\nalgorithms = [\"HS256\"]\nshared_secret = \"short\""
        ));
        assert!(e.contains("jwt.issuers[0].shared_secret"), "{e}");
    }

    #[test]
    fn audiences_and_keys_are_required() {
        let e = Config::from_toml(&format!(
            "[[jwt.issuers]]\nissuer = \"i\"\njwks_url = \"https://x\"\ntenant_id = \"{T}\""
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("jwt.issuers[0].audiences"), "{e}");
        let e = Config::from_toml(&format!(
            "[[jwt.issuers]]\nissuer = \"i\"\naudiences = [\"a\"]\ntenant_id = \"{T}\""
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("jwt.issuers[0].jwks_url"), "{e}");
    }

    #[test]
    fn a_claimed_tenant_needs_an_allow_list_of_tenant_ids() {
        let e = err("tenant_claim = \"tid\"");
        assert!(e.contains("jwt.issuers[0].allowed_tenants"), "{e}");
        let e = err("tenant_claim = \"tid\"\nallowed_tenants = [\"acme\"]");
        assert!(e.contains("jwt.issuers[0].allowed_tenants[0]"), "{e}");
        assert_eq!(
            err(&format!(
                "tenant_claim = \"tid\"\nallowed_tenants = [\"{T}\"]"
            )),
            "ok"
        );
        let e = err(&format!("tenant_id = \"{T}\"\ntenant_claim = \"tid\""));
        assert!(e.contains("jwt.issuers[0].tenant_id"), "{e}");
        let e = err("");
        assert!(e.contains("jwt.issuers[0].tenant_id"), "{e}");
    }

    #[test]
    fn required_roles_need_a_roles_claim() {
        let e = err(&format!("tenant_id = \"{T}\"\nrequired_roles = [\"llm\"]"));
        assert!(e.contains("jwt.issuers[0].required_roles"), "{e}");
    }

    #[test]
    fn an_admin_role_needs_a_roles_claim() {
        let e = err(&format!(
            "tenant_id = \"{T}\"\nadmin_role = \"tollgate-admin\""
        ));
        assert!(e.contains("jwt.issuers[0].admin_role"), "{e}");
        let e = err(&format!(
            "tenant_id = \"{T}\"\nroles_claim = \"roles\"\nadmin_role = \" \""
        ));
        assert!(e.contains("jwt.issuers[0].admin_role"), "{e}");
        assert_eq!(
            err(&format!(
                "tenant_id = \"{T}\"\nroles_claim = \"roles\"\nadmin_role = \"tollgate-admin\""
            )),
            "ok"
        );
    }
}
