//! The JWT attack catalogue, end to end: an edge trusting three issuers (an IdP with a JWKS, a
//! second tenant's IdP whose JWKS reuses the kid `k1` for another key, an internal issuer with
//! an HMAC secret and a static RSA key) is sent every known way of forging or abusing a bearer
//! JWT. Each is refused with 401 `invalid_token` in OpenAI's error format (the oversized token
//! with 431 before any parsing), nothing reaches the provider or is billed, an attacker's server
//! named in `jku`/`x5u` is never contacted, and a storm of made-up `kid`s costs the IdP one
//! fetch. Valid tokens of every issuer are served in the same run, before and after, so the
//! refusals are not the edge refusing everything.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_config::{JwtIssuerConfig, SecretRef, StaticKeyConfig};
use tollgate_tests::{Stack, chat_body};

const RSA1: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa1.pem");
const RSA1_PUB: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa1.pub");
/// The attacker's own key pair.
const RSA2: &str = include_str!("../../crates/edge/src/jwt/testdata/rsa2.pem");

const ISS_A: &str = "https://login.acme.example/";
const ISS_B: &str = "https://login.beta.example/";
const ISS_INTERNAL: &str = "tollgate-internal";
const ISS_STORM: &str = "https://login.storm.example/";
const HMAC_SECRET: &str = "internal-hmac-secret-0123456789abcdef";

fn rsa(pem: &str) -> EncodingKey {
    EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap()
}

fn public_jwk(pem: &str, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(&rsa(pem), Algorithm::RS256).unwrap();
    jwk.common.key_id = Some(kid.into());
    jwk
}

/// An HTTP server answering every path with `body` and counting requests.
async fn serve(body: Value) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        h.fetch_add(1, Ordering::SeqCst);
        let body = body.clone();
        async move { axum::Json(body) }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, hits)
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

/// Good claims for `iss` acting for `tenant`.
fn claims(iss: &str, tenant: &str) -> Value {
    json!({
        "iss": iss, "aud": "tollgate", "sub": "mallory@example.com", "tid": tenant,
        "exp": now() + 600, "iat": now(),
    })
}

fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn rs256(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    h
}

/// Base64url without padding, for tokens the library refuses to make.
fn b64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn hand_made(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

async fn chat(
    stack: &Stack,
    edge: &str,
    bearer: &str,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = stack
        .http()
        .post(format!("{edge}/v1/chat/completions"))
        .bearer_auth(bearer)
        .json(&chat_body("mock", false))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

/// `token` must be refused as OpenAI would refuse a bad key: 401, the OpenAI error envelope,
/// the stable code `invalid_token`, the bearer challenge, and never the token echoed back.
async fn assert_refused(stack: &Stack, edge: &str, attack: &str, token: &str, code: &str) {
    let (status, headers, body) = chat(stack, edge, token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{attack}: {body}");
    let err = &body["error"];
    assert_eq!(err["code"], code, "{attack}: {body}");
    assert_eq!(err["type"], "invalid_request_error", "{attack}: {body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{attack}: {body}"
    );
    if code == "invalid_token" {
        assert_eq!(
            headers.get("www-authenticate").unwrap(),
            "Bearer error=\"invalid_token\"",
            "{attack}"
        );
    }
    let text = body.to_string();
    // The signature part is the token's unguessable part; it must not come back.
    let sig = token.rsplit('.').next().unwrap_or("");
    assert!(
        sig.len() < 8 || !text.contains(sig),
        "{attack}: token echoed: {body}"
    );
}

async fn assert_served(stack: &Stack, edge: &str, what: &str, token: &str) {
    let (status, _, body) = chat(stack, edge, token).await;
    assert_eq!(status, StatusCode::OK, "{what}: {body}");
    assert!(
        body["choices"][0]["message"]["content"].is_string(),
        "{what}: {body}"
    );
}

/// A 1 MB bearer over a raw connection (so the answer is read even if the edge closes before
/// taking the whole head): the status line and body of what came back.
async fn oversized(addr: std::net::SocketAddr, token: &str) -> (String, String) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 2\r\nauthorization: Bearer {token}\r\n\r\n{{}}"
    );
    // The edge may stop reading (and reset) before the whole head is sent: ignore write errors.
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.shutdown().await;
    });
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut buf)).await;
    writer.abort();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.lines().next().unwrap_or("").to_owned();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_known_jwt_attack_is_refused_and_nothing_is_fetched_from_the_attacker() {
    let mut stack = Stack::start().await;
    let acme = stack.tenant("acme", false).await;
    let beta = stack.tenant("beta", false).await;

    let (idp_a, jwks_a) = serve(json!({"keys": [public_jwk(RSA1, "k1")]})).await;
    // Beta's IdP publishes its own key under the same kid as acme's.
    let (idp_b, jwks_b) = serve(json!({"keys": [public_jwk(RSA2, "k1")]})).await;
    let (idp_storm, jwks_storm) = serve(json!({"keys": [public_jwk(RSA1, "k1")]})).await;
    // The attacker publishes a key set with its own key, should anything come asking.
    let (attacker, attacker_hits) =
        serve(json!({"keys": [public_jwk(RSA2, "k1"), public_jwk(RSA2, "evil")]})).await;

    let long_cooldown = Duration::from_secs(120);
    stack.cfg.jwt.issuers = vec![
        JwtIssuerConfig {
            issuer: ISS_A.into(),
            audiences: vec!["tollgate".into()],
            jwks_url: Some(format!("{idp_a}/.well-known/jwks.json")),
            algorithms: vec!["RS256".into()],
            tenant_claim: Some("tid".into()),
            allowed_tenants: vec![acme.clone()],
            jwks_cooldown: long_cooldown,
            ..JwtIssuerConfig::default()
        },
        JwtIssuerConfig {
            issuer: ISS_B.into(),
            audiences: vec!["tollgate".into()],
            jwks_url: Some(format!("{idp_b}/.well-known/jwks.json")),
            algorithms: vec!["RS256".into()],
            tenant_id: Some(beta.clone()),
            jwks_cooldown: long_cooldown,
            ..JwtIssuerConfig::default()
        },
        // An internal issuer allowing both HMAC (its shared secret) and RSA (a static key):
        // the setting in which the RS-public-key-as-HMAC-secret confusion could bite.
        JwtIssuerConfig {
            issuer: ISS_INTERNAL.into(),
            audiences: vec!["tollgate".into()],
            shared_secret: Some(SecretRef::literal(HMAC_SECRET)),
            static_keys: vec![StaticKeyConfig {
                kid: "k1".into(),
                key: SecretRef::literal(RSA1_PUB),
            }],
            algorithms: vec!["RS256".into(), "HS256".into()],
            tenant_id: Some(acme.clone()),
            ..JwtIssuerConfig::default()
        },
        JwtIssuerConfig {
            issuer: ISS_STORM.into(),
            audiences: vec!["tollgate".into()],
            jwks_url: Some(format!("{idp_storm}/.well-known/jwks.json")),
            algorithms: vec!["RS256".into()],
            tenant_id: Some(acme.clone()),
            jwks_cooldown: long_cooldown,
            ..JwtIssuerConfig::default()
        },
    ];
    stack.cfg.validate().unwrap();
    let edge = stack.add_edge().await;
    let edge_addr = stack.edges.last().unwrap().addr;
    // Each IdP is fetched once at start, in the background.
    let t0 = Instant::now();
    while [&jwks_a, &jwks_b, &jwks_storm]
        .iter()
        .any(|h| h.load(Ordering::SeqCst) == 0)
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "JWKS never fetched");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let good = |iss: &str| claims(iss, &acme);
    let valid_a = sign(rs256("k1"), &good(ISS_A), &rsa(RSA1));
    let valid_hs = sign(
        Header::new(Algorithm::HS256),
        &good(ISS_INTERNAL),
        &EncodingKey::from_secret(HMAC_SECRET.as_bytes()),
    );
    let valid_internal_rs = sign(rs256("k1"), &good(ISS_INTERNAL), &rsa(RSA1));
    let mut served = 0;
    for (what, t) in [
        ("JWKS-verified RS256", &valid_a),
        ("internal HS256", &valid_hs),
        ("internal static-key RS256", &valid_internal_rs),
    ] {
        assert_served(&stack, &edge, what, t).await;
        served += 1;
    }

    let mut attacks: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, token: String| attacks.push((name.to_owned(), token));

    // alg none, in every spelling, with and without a signature part.
    for alg in ["none", "None", "NONE", "nOnE"] {
        let h = json!({"alg": alg, "typ": "JWT", "kid": "k1"});
        add(&format!("alg {alg}"), hand_made(&h, &good(ISS_A), b""));
        add(
            &format!("alg {alg}, junk signature"),
            hand_made(&h, &good(ISS_A), b"junk"),
        );
    }
    // Key confusion: HS256 keyed with the issuer's RSA public key (PEM, as published).
    for (iss, label) in [
        (ISS_A, "JWKS issuer"),
        (ISS_INTERNAL, "HMAC-allowing issuer"),
    ] {
        for secret in [RSA1_PUB, RSA1_PUB.trim_end()] {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("k1".into());
            add(
                &format!("HS256 with the RS public key ({label})"),
                sign(h, &good(iss), &EncodingKey::from_secret(secret.as_bytes())),
            );
        }
    }
    // Hostile kids, signed with the attacker's key.
    for kid in [
        "../../../../../../etc/passwd",
        "/dev/null",
        "..%2f..%2f..%2fetc%2fpasswd",
        "k1/../k1",
        "' OR '1'='1",
        "k1' UNION SELECT key FROM keys --",
        "k1\"; DROP TABLE api_keys; --",
    ] {
        add(
            &format!("kid {kid:?}"),
            sign(rs256(kid), &good(ISS_A), &rsa(RSA2)),
        );
    }
    // Key URLs and embedded keys that point at the attacker.
    for kid in ["k1", "evil"] {
        let mut h = rs256(kid);
        h.jku = Some(format!("{attacker}/jwks.json"));
        add(
            &format!("jku to the attacker, kid {kid}"),
            sign(h, &good(ISS_A), &rsa(RSA2)),
        );
        let mut h = rs256(kid);
        h.x5u = Some(format!("{attacker}/cert.pem"));
        add(
            &format!("x5u to the attacker, kid {kid}"),
            sign(h, &good(ISS_A), &rsa(RSA2)),
        );
        let mut h = rs256(kid);
        h.jwk = Some(public_jwk(RSA2, kid));
        add(
            &format!("embedded jwk, kid {kid}"),
            sign(h, &good(ISS_A), &rsa(RSA2)),
        );
    }
    let with = |patch: Value| {
        let mut c = good(ISS_A);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        sign(rs256("k1"), &c, &rsa(RSA1))
    };
    add("expired", with(json!({"exp": now() - 3600})));
    add("not yet valid", with(json!({"nbf": now() + 3600})));
    add("wrong aud", with(json!({"aud": "someone-else"})));
    add(
        "wrong aud list",
        with(json!({"aud": ["someone-else", "another"]})),
    );
    add("missing aud", with(json!({"aud": null})));
    add("wrong iss", with(json!({"iss": "https://evil.example/"})));
    add(
        "iss differing in case",
        with(json!({"iss": "https://LOGIN.acme.example/"})),
    );
    add("missing iss", with(json!({"iss": null})));
    add("missing exp", with(json!({"exp": null})));
    add("exp as text", with(json!({"exp": "9999999999"})));
    // Acme's IdP may not act for beta; acme's key may not sign for beta's IdP (whose JWKS has
    // a different key under the same kid).
    add(
        "tenant claim for another tenant",
        with(json!({"tid": beta})),
    );
    add(
        "acme's token presented with beta's issuer",
        sign(rs256("k1"), &claims(ISS_B, &beta), &rsa(RSA1)),
    );
    // A valid token with its claims swapped after signing.
    {
        let parts: Vec<&str> = valid_a.split('.').collect();
        let forged = b64(claims(ISS_A, &beta).to_string().as_bytes());
        add(
            "payload swapped",
            format!("{}.{forged}.{}", parts[0], parts[2]),
        );
    }
    // Truncations of a valid token.
    add(
        "signature cut short",
        valid_a[..valid_a.len() - 10].to_owned(),
    );
    add("signature removed", {
        let (hp, _) = valid_a.rsplit_once('.').unwrap();
        format!("{hp}.")
    });
    add("cut inside the payload", {
        let i = valid_a.find('.').unwrap() + 20;
        format!("{}.", &valid_a[..i])
    });
    add("garbage", "a.b.c".to_owned());

    let mock_before = stack.mock.stats().chat_requests;
    for (name, token) in &attacks {
        assert_refused(&stack, &edge, name, token, "invalid_token").await;
    }
    // Cut to a shape that is no longer a JWS (two parts): then it is just a bad API key.
    let (hp, _) = valid_a.rsplit_once('.').unwrap();
    assert_refused(&stack, &edge, "cut to two parts", hp, "invalid_api_key").await;

    // 1 MB of token: refused by the edge's header limit (64 KiB) with 431 before anything
    // parses it; 431 is what HTTP clients expect for an oversized head (RFC 6585), and retrying
    // with the same token cannot help, which 401 would suggest it might after a refresh.
    let huge = format!(
        "{}.{}.{}",
        "e".repeat(1024),
        "A".repeat(1024 * 1024),
        "s".repeat(64)
    );
    let t0 = Instant::now();
    let (status, body) = oversized(edge_addr, &huge).await;
    assert!(
        status.starts_with("HTTP/1.1 431"),
        "oversized token: {status} {body}"
    );
    if let Ok(v) = serde_json::from_str::<Value>(&body) {
        assert_eq!(v["error"]["code"], "headers_too_large", "{v}");
    }
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    // The storm: 200 concurrent tokens naming made-up kids of the storm IdP.
    let storm_before = jwks_storm.load(Ordering::SeqCst);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let http = stack.http().clone();
        let edge = edge.clone();
        let token = sign(
            rs256(&uuid::Uuid::new_v4().to_string()),
            &good(ISS_STORM),
            &rsa(RSA2),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{edge}/v1/chat/completions"))
                .bearer_auth(token)
                .json(&chat_body("mock", false))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            (status, body)
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "storm: {body}");
        assert_eq!(body["error"]["code"], "invalid_token", "storm: {body}");
    }
    let storm_fetches = jwks_storm.load(Ordering::SeqCst) - storm_before;
    // One on-demand fetch for the whole storm (single flight, then the cooldown).
    assert!(
        storm_fetches <= 1,
        "the storm cost the IdP {storm_fetches} fetches"
    );

    // Valid tokens still work after all that.
    for (what, t) in [
        ("JWKS-verified RS256 after the attacks", &valid_a),
        ("internal HS256 after the attacks", &valid_hs),
    ] {
        assert_served(&stack, &edge, what, t).await;
        served += 1;
    }

    assert_eq!(
        attacker_hits.load(Ordering::SeqCst),
        0,
        "the edge fetched from a URL named in a token"
    );
    // Start-up fetch plus at most one on-demand fetch per IdP, however many hostile kids.
    for (idp, hits) in [("acme", &jwks_a), ("beta", &jwks_b), ("storm", &jwks_storm)] {
        let n = hits.load(Ordering::SeqCst);
        assert!(n <= 2, "{idp}'s IdP was fetched {n} times");
    }
    // Only the valid tokens reached the provider and the ledger.
    assert_eq!(
        stack.mock.stats().chat_requests - mock_before,
        2,
        "an attack reached the provider"
    );
    stack.wait_ledger(&acme, served).await;
    assert_eq!(stack.ledger_rows(&beta).await, 0);
    eprintln!(
        "{} attacks + 1 oversized + 200 storm refused; JWKS fetches acme={} beta={} storm={}; attacker hits=0",
        attacks.len(),
        jwks_a.load(Ordering::SeqCst),
        jwks_b.load(Ordering::SeqCst),
        jwks_storm.load(Ordering::SeqCst),
    );
    stack.shutdown().await;
}
