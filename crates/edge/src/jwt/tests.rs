//! JWT verification against keys generated for these tests (see `testdata/`), and a real JWKS
//! endpoint (an axum server on port 0) for rotation, single-flight and cooldown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tollgate_config::{JwtConfig, JwtIssuerConfig, SecretRef, StaticKeyConfig};

use super::*;

const RSA1: &str = include_str!("testdata/rsa1.pem");
const RSA2: &str = include_str!("testdata/rsa2.pem");
const EC1: &str = include_str!("testdata/ec1.pem");
const RSA1_PUB: &str = include_str!("testdata/rsa1.pub");
const EC1_PUB: &str = include_str!("testdata/ec1.pub");

const ISS: &str = "https://idp.example.com/";
const AUD: &str = "tollgate";
const TENANT: &str = "0192f0c1-7c1e-7a51-9d2e-6f1d2c3b4a59";
const OTHER_TENANT: &str = "0192f0c1-7c1e-7a51-9d2e-000000000002";
const TEAM: &str = "0192f0c1-7c1e-7a51-9d2e-0000000000aa";

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": AUD, "sub": "alice", "exp": now() + 600, "iat": now()})
}

fn enc(alg: Algorithm, pem: &str) -> EncodingKey {
    match alg.family() {
        AlgorithmFamily::Ec => EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(),
        AlgorithmFamily::Hmac => EncodingKey::from_secret(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
    }
}

fn sign_with(header: Header, pem: &str, claims: &Value) -> String {
    encode(&header, claims, &enc(header.alg, pem)).unwrap()
}

fn sign(alg: Algorithm, kid: &str, pem: &str, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.into());
    sign_with(h, pem, claims)
}

fn jwk(alg: Algorithm, kid: &str, pem: &str) -> Jwk {
    let mut j = Jwk::from_encoding_key(&enc(alg, pem), alg).unwrap();
    j.common.key_id = Some(kid.into());
    j
}

fn issuer() -> JwtIssuerConfig {
    JwtIssuerConfig {
        issuer: ISS.into(),
        audiences: vec![AUD.into()],
        static_keys: vec![
            StaticKeyConfig {
                kid: "rsa".into(),
                key: SecretRef::literal(RSA1_PUB),
            },
            StaticKeyConfig {
                kid: "ec".into(),
                key: SecretRef::literal(EC1_PUB),
            },
        ],
        tenant_id: Some(TENANT.into()),
        ..JwtIssuerConfig::default()
    }
}

fn auth(issuers: Vec<JwtIssuerConfig>) -> JwtAuth {
    let cfg = JwtConfig { issuers };
    tollgate_config::Config {
        jwt: cfg.clone(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    JwtAuth::from_config(&cfg).unwrap().unwrap()
}

async fn refused(a: &JwtAuth, token: &str) -> &'static str {
    match a.authenticate(token).await {
        Err(JwtError::Invalid(r)) => r,
        other => panic!("expected an invalid token, got {other:?}"),
    }
}

#[tokio::test]
async fn rs256_and_es256_tokens_become_callers_of_the_issuers_tenant() {
    let a = auth(vec![JwtIssuerConfig {
        rpm_limit: 77,
        concurrency_limit: 3,
        ..issuer()
    }]);
    for token in [
        sign(Algorithm::RS256, "rsa", RSA1, &claims()),
        sign(Algorithm::ES256, "ec", EC1, &claims()),
    ] {
        let c = a.authenticate(&token).await.unwrap();
        assert_eq!(c.identity.tenant_id, TENANT);
        assert_eq!(c.identity.user_id, "alice");
        assert_eq!(c.identity.team_id, "");
        assert!(
            c.identity.key_id.starts_with("jwt:"),
            "{}",
            c.identity.key_id
        );
        assert_eq!((c.rpm_limit, c.concurrency_limit), (77, 3));
        assert!(!c.log_content);
    }
}

#[tokio::test]
async fn time_audience_issuer_and_required_claims_are_enforced() {
    let a = auth(vec![issuer()]);
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        sign(Algorithm::RS256, "rsa", RSA1, &c)
    };
    // Leeway is 30s by default: 10s past expiry still passes, 120s does not.
    assert!(
        a.authenticate(&with(json!({"exp": now() - 10})))
            .await
            .is_ok()
    );
    assert_eq!(
        refused(&a, &with(json!({"exp": now() - 120}))).await,
        "expired"
    );
    assert_eq!(
        refused(&a, &with(json!({"nbf": now() + 600}))).await,
        "not yet valid"
    );
    assert_eq!(
        refused(&a, &with(json!({"aud": "someone-else"}))).await,
        "wrong audience"
    );
    assert_eq!(
        refused(&a, &with(json!({"iss": "https://evil.example/"}))).await,
        "unknown issuer"
    );
    assert_eq!(
        refused(&a, &with(json!({"iss": null}))).await,
        "unknown issuer"
    );
    assert!(
        refused(&a, &with(json!({"exp": null})))
            .await
            .contains("required claim")
    );
    assert!(
        refused(&a, &with(json!({"aud": null})))
            .await
            .contains("required claim")
    );
    // A token signed by another key under a known kid.
    assert_eq!(
        refused(&a, &sign(Algorithm::RS256, "rsa", RSA2, &claims())).await,
        "bad signature"
    );
    assert_eq!(
        refused(&a, &sign(Algorithm::RS256, "nope", RSA1, &claims())).await,
        "unknown signing key"
    );
}

#[tokio::test]
async fn alg_none_and_algorithm_confusion_are_refused() {
    let a = auth(vec![JwtIssuerConfig {
        algorithms: vec!["RS256".into()],
        ..issuer()
    }]);
    // `alg: none` with an empty signature.
    let none = format!(
        "{}.{}.",
        base64_url(&json!({"alg": "none", "typ": "JWT", "kid": "rsa"})),
        base64_url(&claims())
    );
    assert_eq!(refused(&a, &none).await, "malformed token");
    // HS256 "signed" with the issuer's public key as the HMAC secret.
    let confused = sign(Algorithm::HS256, "rsa", RSA1_PUB, &claims());
    assert_eq!(refused(&a, &confused).await, "algorithm not allowed");
    // ES256 is not on this issuer's list even though an EC key is configured.
    let es = sign(Algorithm::ES256, "ec", EC1, &claims());
    assert_eq!(refused(&a, &es).await, "algorithm not allowed");

    // An internal issuer allowed both: the HMAC key is only ever its shared secret.
    let secret = "an internal secret of at least 32 bytes!";
    let b = auth(vec![JwtIssuerConfig {
        algorithms: vec!["RS256".into(), "HS256".into()],
        shared_secret: Some(SecretRef::literal(secret)),
        ..issuer()
    }]);
    assert!(
        b.authenticate(&sign(Algorithm::HS256, "x", secret, &claims()))
            .await
            .is_ok()
    );
    assert_eq!(refused(&b, &confused).await, "bad signature");
    // The RSA kid cannot verify an ES256 token either (family mismatch).
    let c = auth(vec![issuer()]);
    let es_under_rsa_kid = sign(Algorithm::ES256, "rsa", EC1, &claims());
    assert_eq!(
        refused(&c, &es_under_rsa_kid).await,
        "algorithm does not match the signing key"
    );
}

fn base64_url(v: &Value) -> String {
    // Minimal URL-safe base64 without padding, to hand-craft a token the library will not sign.
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = serde_json::to_vec(v).unwrap();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |acc, b| (acc << 8) | *b as u32) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn jku_x5u_and_embedded_jwk_headers_are_never_followed() {
    let a = auth(vec![issuer()]);
    // The attacker signs with their own key, names the real kid and points at their own keys.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa".into());
    h.jku = Some("https://evil.example/jwks.json".into());
    h.x5u = Some("https://evil.example/cert.pem".into());
    h.jwk = Some(jwk(Algorithm::RS256, "rsa", RSA2));
    let token = sign_with(h, RSA2, &claims());
    assert_eq!(refused(&a, &token).await, "bad signature");
    // The same headers on a genuinely signed token change nothing either.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa".into());
    h.jku = Some("https://evil.example/jwks.json".into());
    assert!(a.authenticate(&sign_with(h, RSA1, &claims())).await.is_ok());
}

#[tokio::test]
async fn a_claimed_tenant_must_be_allowed_and_claims_map_to_team_user_and_roles() {
    let a = auth(vec![JwtIssuerConfig {
        tenant_id: None,
        tenant_claim: Some("https://tollgate.dev/tenant".into()),
        allowed_tenants: vec![TENANT.into()],
        team_claim: Some("org.team".into()),
        user_claim: "email".into(),
        roles_claim: Some("realm_access.roles".into()),
        required_roles: vec!["llm-user".into()],
        log_content: true,
        ..issuer()
    }]);
    let token = |patch: Value| {
        let mut c = claims();
        c["https://tollgate.dev/tenant"] = json!(TENANT);
        c["org"] = json!({"team": TEAM});
        c["email"] = json!("alice@example.com");
        c["realm_access"] = json!({"roles": ["viewer", "llm-user"]});
        for (k, v) in patch.as_object().unwrap() {
            c[k] = v.clone();
        }
        sign(Algorithm::RS256, "rsa", RSA1, &c)
    };
    let c = a.authenticate(&token(json!({}))).await.unwrap();
    assert_eq!(c.identity.tenant_id, TENANT);
    assert_eq!(c.identity.team_id, TEAM);
    assert_eq!(c.identity.user_id, "alice@example.com");
    assert!(c.log_content);

    // A token of this issuer naming another tenant can never act for it.
    assert_eq!(
        refused(
            &a,
            &token(json!({"https://tollgate.dev/tenant": OTHER_TENANT}))
        )
        .await,
        "this issuer may not act for that tenant"
    );
    assert_eq!(
        refused(&a, &token(json!({"https://tollgate.dev/tenant": null}))).await,
        "the tenant claim is missing"
    );
    assert_eq!(
        refused(&a, &token(json!({"org": {"team": "engineering"}}))).await,
        "the team claim is not a team id"
    );
    let e = a
        .authenticate(&token(json!({"realm_access": {"roles": ["viewer"]}})))
        .await
        .unwrap_err();
    assert!(matches!(e, JwtError::MissingRole), "{e:?}");
    assert_eq!(ApiError::from(e).status(), http::StatusCode::FORBIDDEN);
}

#[test]
fn refusals_map_to_401_invalid_token_and_key_outages_to_503() {
    let e = ApiError::from(JwtError::Invalid("expired"));
    assert_eq!(e.status(), http::StatusCode::UNAUTHORIZED);
    assert_eq!(e.code(), "invalid_token");
    let r = axum::response::IntoResponse::into_response(ApiError::from(JwtError::Invalid("x")));
    assert_eq!(
        r.headers()[http::header::WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );
    let e = ApiError::from(JwtError::KeysUnavailable);
    assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn only_three_part_non_key_bearers_are_tried_as_jwts() {
    assert!(looks_like_jwt("aaa.bbb.ccc"));
    assert!(!looks_like_jwt("tg-abc.def.ghi"));
    assert!(!looks_like_jwt("sk-abc"));
    assert!(!looks_like_jwt("a.b"));
}

// ---- JWKS endpoint ------------------------------------------------------------------------

struct Idp {
    keys: std::sync::Mutex<Vec<Jwk>>,
    hits: AtomicU64,
    down: AtomicBool,
}

async fn jwks(State(idp): State<Arc<Idp>>) -> axum::response::Response {
    idp.hits.fetch_add(1, Ordering::SeqCst);
    // Slow enough that concurrent callers really overlap the fetch.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if idp.down.load(Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let keys = idp.keys.lock().unwrap().clone();
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn serve_idp(keys: Vec<Jwk>) -> (Arc<Idp>, String) {
    let idp = Arc::new(Idp {
        keys: std::sync::Mutex::new(keys),
        hits: AtomicU64::new(0),
        down: AtomicBool::new(false),
    });
    let app = axum::Router::new()
        .route("/jwks", axum::routing::get(jwks))
        .with_state(idp.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (idp, url)
}

fn jwks_issuer(url: &str, cooldown: Duration) -> JwtIssuerConfig {
    JwtIssuerConfig {
        static_keys: vec![],
        jwks_url: Some(url.into()),
        jwks_cooldown: cooldown,
        ..issuer()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_is_fetched_once_however_many_tokens_name_it() {
    let (idp, url) = serve_idp(vec![jwk(Algorithm::RS256, "k1", RSA1)]).await;
    let a = Arc::new(auth(vec![jwks_issuer(&url, Duration::from_secs(60))]));
    let cache = a.jwks(ISS).unwrap().clone();
    cache.refresh().await.unwrap();
    assert!(
        a.authenticate(&sign(Algorithm::RS256, "k1", RSA1, &claims()))
            .await
            .is_ok()
    );
    assert_eq!(idp.hits.load(Ordering::SeqCst), 1);

    // The IdP rotates: k2 appears, k1 is withdrawn.
    *idp.keys.lock().unwrap() = vec![
        jwk(Algorithm::RS256, "k2", RSA2),
        jwk(Algorithm::ES256, "k3", EC1),
    ];
    let token = sign(Algorithm::RS256, "k2", RSA2, &claims());
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (a, t) = (a.clone(), token.clone());
            tokio::spawn(async move { a.authenticate(&t).await.map(|_| ()) })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(
        idp.hits.load(Ordering::SeqCst),
        2,
        "one fetch for 50 tokens"
    );
    assert_eq!(cache.fetch_count(), 2);
    // The withdrawn key no longer verifies; the other new key works from the cache.
    assert_eq!(
        refused(&a, &sign(Algorithm::RS256, "k1", RSA1, &claims())).await,
        "unknown signing key"
    );
    assert!(
        a.authenticate(&sign(Algorithm::ES256, "k3", EC1, &claims()))
            .await
            .is_ok()
    );
    assert_eq!(idp.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_made_up_kids_costs_the_idp_one_fetch_per_cooldown() {
    let (idp, url) = serve_idp(vec![jwk(Algorithm::RS256, "k1", RSA1)]).await;
    let a = Arc::new(auth(vec![jwks_issuer(&url, Duration::from_secs(60))]));
    a.jwks(ISS).unwrap().refresh().await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let a = a.clone();
            let t = sign(Algorithm::RS256, &format!("bogus-{i}"), RSA1, &claims());
            tokio::spawn(async move { refused(&a, &t).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "unknown signing key");
    }
    assert_eq!(
        idp.hits.load(Ordering::SeqCst),
        2,
        "startup + one on-demand fetch"
    );
}

#[tokio::test]
async fn an_unreachable_idp_with_no_cached_keys_is_503_not_401() {
    // A port nobody listens on.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", l.local_addr().unwrap());
    drop(l);
    let a = auth(vec![jwks_issuer(&url, Duration::from_secs(60))]);
    let token = sign(Algorithm::RS256, "k1", RSA1, &claims());
    for _ in 0..2 {
        // The second try is inside the cooldown: still 503, and no second fetch.
        let e = a.authenticate(&token).await.unwrap_err();
        assert!(matches!(e, JwtError::KeysUnavailable), "{e:?}");
    }
    assert_eq!(a.jwks(ISS).unwrap().fetch_count(), 1);

    // An IdP that answers 503 while keys are cached: cached keys keep working, and an unknown
    // kid is an outage (we cannot tell it is bogus), not a 401.
    let (idp, url) = serve_idp(vec![jwk(Algorithm::RS256, "k1", RSA1)]).await;
    let b = auth(vec![jwks_issuer(&url, Duration::ZERO)]);
    b.jwks(ISS).unwrap().refresh().await.unwrap();
    idp.down.store(true, Ordering::SeqCst);
    assert!(b.jwks(ISS).unwrap().refresh().await.is_err());
    assert!(b.authenticate(&token).await.is_ok());
    let e = b
        .authenticate(&sign(Algorithm::RS256, "k9", RSA2, &claims()))
        .await
        .unwrap_err();
    assert!(matches!(e, JwtError::KeysUnavailable), "{e:?}");
}

#[tokio::test]
async fn background_refresh_loads_keys_at_start_and_stops_on_shutdown() {
    let (idp, url) = serve_idp(vec![jwk(Algorithm::RS256, "k1", RSA1)]).await;
    let cfg = JwtConfig {
        issuers: vec![jwks_issuer(&url, Duration::from_secs(60))],
    };
    let a = JwtAuth::from_config(&cfg).unwrap().unwrap();
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    a.spawn_refresh(&cfg, &tracker, &stop);
    for _ in 0..100 {
        if idp.hits.load(Ordering::SeqCst) > 0 && a.jwks(ISS).unwrap().cached("k1").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        a.authenticate(&sign(Algorithm::RS256, "k1", RSA1, &claims()))
            .await
            .is_ok()
    );
    assert_eq!(idp.hits.load(Ordering::SeqCst), 1);
    stop.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(2), tracker.wait())
        .await
        .unwrap();
}

#[test]
fn a_static_key_that_is_not_a_key_names_its_field() {
    let bad = JwtIssuerConfig {
        static_keys: vec![StaticKeyConfig {
            kid: "x".into(),
            key: SecretRef::literal("-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"),
        }],
        ..issuer()
    };
    let e = JwtAuth::from_config(&JwtConfig { issuers: vec![bad] })
        .err()
        .unwrap();
    assert_eq!(e.field, "jwt.issuers[0].static_keys[0].key");
    // A JWK as JSON works as a static key.
    let j = serde_json::to_string(&jwk(Algorithm::RS256, "rsa", RSA1)).unwrap();
    let ok = JwtIssuerConfig {
        static_keys: vec![StaticKeyConfig {
            kid: "rsa".into(),
            key: SecretRef::literal(&j),
        }],
        ..issuer()
    };
    assert!(JwtAuth::from_config(&JwtConfig { issuers: vec![ok] }).is_ok());
}

#[tokio::test]
async fn only_the_admin_role_makes_a_tenant_admin_and_only_of_the_tokens_tenant() {
    let a = auth(vec![JwtIssuerConfig {
        tenant_id: None,
        tenant_claim: Some("tid".into()),
        allowed_tenants: vec![TENANT.into()],
        roles_claim: Some("roles".into()),
        admin_role: Some("tollgate-admin".into()),
        ..issuer()
    }]);
    let token = |tenant: &str, roles: Value| {
        let mut c = claims();
        c["tid"] = json!(tenant);
        c["roles"] = roles;
        sign(Algorithm::RS256, "rsa", RSA1, &c)
    };
    let admin = token(TENANT, json!(["viewer", "tollgate-admin"]));
    assert_eq!(a.authenticate_admin(&admin).await.unwrap(), TENANT);
    // The same token is an ordinary caller too.
    assert!(a.authenticate(&admin).await.is_ok());
    assert!(matches!(
        a.authenticate_admin(&token(TENANT, json!(["viewer"])))
            .await,
        Err(JwtError::MissingRole)
    ));
    assert!(matches!(
        a.authenticate_admin(&token(TENANT, json!("tollgate-admin-ish")))
            .await,
        Err(JwtError::MissingRole)
    ));
    // The role cannot lift the tenant rule: another tenant is refused before roles are read.
    assert!(matches!(
        a.authenticate_admin(&token(OTHER_TENANT, json!(["tollgate-admin"])))
            .await,
        Err(JwtError::Invalid(_))
    ));
    // An issuer without `admin_role` has no admins, whatever its tokens claim.
    let plain = auth(vec![JwtIssuerConfig {
        roles_claim: Some("roles".into()),
        ..issuer()
    }]);
    assert!(matches!(
        plain.authenticate_admin(&admin).await,
        Err(JwtError::MissingRole)
    ));
}
