//! The edge protecting itself, before and around the request path: the accept loop with its
//! connection and header limits (`serve.rs`), load shedding and the failed-authentication
//! throttle (the two layers below), the caps on what a model-call body may ask for
//! (`body.rs`), and the check on every URL an admin can set (`outbound.rs`).
//!
//! Nothing here touches Redis or Postgres: a flood must not cost the shared stores anything.
//! Every refusal is counted in `tollgate_edge_refused_total{reason}`.

pub mod body;
pub mod outbound;
pub mod serve;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use tollgate_config::EdgeConfig;

use crate::error::ApiError;

/// The window failed authentications are counted in.
const AUTH_WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at once; beyond it moka evicts the least useful entries (a spoofing
/// flood cannot grow the map without bound).
const AUTH_TRACKED: u64 = 100_000;

/// Model requests in flight on this edge (streams until their last byte), as a gauge: what the
/// HorizontalPodAutoscalers scale on besides CPU (deploy/k8s).
pub const IN_FLIGHT_GAUGE: &str = "tollgate_edge_in_flight_requests";

/// Count one refusal by the edge's own protections.
pub fn refused(reason: &'static str) {
    metrics::counter!("tollgate_edge_refused_total", "reason" => reason).increment(1);
}

/// What the layers and handlers share: the in-flight counter, the failure map, the caps.
pub struct Guard {
    in_flight: AtomicUsize,
    max_in_flight: usize,
    max_header_bytes: usize,
    pub max_json_depth: usize,
    pub max_output_tokens: u64,
    pub max_n: u64,
    auth_failures: moka::sync::Cache<IpAddr, Arc<Failures>>,
    auth_failures_per_minute: u32,
    auth_exempt: Vec<outbound::Cidr>,
    trusted_proxies: Vec<outbound::Cidr>,
}

/// Failed authentications from one address since `since` (the entry expires with its window).
struct Failures {
    since: Instant,
    count: AtomicU32,
}

impl Guard {
    pub fn new(edge: &EdgeConfig) -> Arc<Guard> {
        let h = &edge.hardening;
        Arc::new(Guard {
            in_flight: AtomicUsize::new(0),
            max_in_flight: h.max_in_flight,
            max_header_bytes: h.max_header_bytes,
            max_json_depth: h.max_json_depth,
            max_output_tokens: h.max_output_tokens,
            max_n: h.max_n,
            auth_failures: moka::sync::Cache::builder()
                .max_capacity(AUTH_TRACKED)
                .time_to_live(AUTH_WINDOW)
                .build(),
            auth_failures_per_minute: h.auth_failures_per_minute,
            auth_exempt: h
                .auth_throttle_exempt
                .iter()
                .filter_map(|c| outbound::Cidr::parse(c))
                .collect(),
            trusted_proxies: h
                .trusted_proxies
                .iter()
                .filter_map(|c| outbound::Cidr::parse(c))
                .collect(),
        })
    }

    /// A slot for one model request, or `None` when the edge is at its cap. One atomic
    /// add, no lock.
    fn enter(self: &Arc<Self>) -> Option<InFlight> {
        let before = self.in_flight.fetch_add(1, Ordering::AcqRel);
        let slot = InFlight(self.clone());
        (before < self.max_in_flight).then_some(slot)
    }

    /// Sets [`IN_FLIGHT_GAUGE`] from the counter load shedding keeps anyway. Called when
    /// `/metrics` is scraped, so the request path pays nothing for the gauge.
    pub fn publish_in_flight(&self) {
        let n = self.in_flight.load(Ordering::Relaxed);
        metrics::gauge!(IN_FLIGHT_GAUGE).set(n as f64);
    }

    /// Seconds until `ip` may try again, when it failed too often this minute.
    fn auth_blocked(&self, ip: IpAddr) -> Option<u64> {
        let f = self.auth_failures.get(&ip)?;
        if f.count.load(Ordering::Relaxed) < self.auth_failures_per_minute {
            return None;
        }
        let left = AUTH_WINDOW.saturating_sub(f.since.elapsed());
        Some(left.as_secs().max(1))
    }

    fn auth_failed(&self, ip: IpAddr) {
        let f = self.auth_failures.get_with(ip, || {
            Arc::new(Failures {
                since: Instant::now(),
                count: AtomicU32::new(0),
            })
        });
        f.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// One model request in flight; released when dropped (with the response body, so a stream
/// holds its slot until its last byte).
struct InFlight(Arc<Guard>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The routes that reach a provider: the only ones shed (probes, admin and the model list stay
/// answerable under load).
fn is_model_call(method: &Method, path: &str) -> bool {
    // Every model route is served under `/v1` and OpenRouter's `/api/v1` alike.
    let path = path.strip_prefix("/api").unwrap_or(path);
    method == Method::POST
        && matches!(
            path,
            "/v1/chat/completions"
                | "/v1/embeddings"
                | "/v1/messages"
                | "/v1/responses"
                | "/v1/completions"
                | "/v1/images/generations"
                | "/v1/audio/speech"
                | "/v1/audio/transcriptions"
                | "/v1/moderations"
                | "/v1/rerank"
        )
}

/// The first of the edge's own limits in the stack: headers over
/// `edge.hardening.max_header_bytes` get 431; then load shedding: a model request beyond
/// `edge.hardening.max_in_flight` gets 503 with Retry-After before authentication, admission
/// or any read of its body. Also hands the guard to the handlers (their body caps).
pub async fn shed(State(guard): State<Arc<Guard>>, mut req: Request, next: Next) -> Response {
    // hyper bounds a head by its read buffer only when the head arrives in pieces; this bounds
    // it whatever the pieces, in the caller's error format.
    let head: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if head > guard.max_header_bytes {
        refused("header_too_large");
        return ApiError::HeadersTooLarge {
            limit: guard.max_header_bytes,
        }
        .into_response();
    }
    req.extensions_mut().insert(guard.clone());
    if !is_model_call(req.method(), req.uri().path()) {
        return next.run(req).await;
    }
    let Some(slot) = guard.enter() else {
        refused("overloaded");
        return ApiError::Overloaded.into_response();
    };
    let resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        refused("body_too_large");
    }
    // The slot rides on the body: a streamed answer is in flight until its end.
    resp.map(|b| {
        Body::new(b.map_frame(move |f| {
            let _held = &slot;
            f
        }))
    })
}

/// The client behind `peer`: `peer` itself, unless it is a trusted proxy; then the right-most
/// `X-Forwarded-For` address that is not a trusted proxy (each proxy appends the address it saw,
/// so everything left of the last untrusted hop could have been written by the client). A
/// header that names only trusted proxies, or cannot be read, leaves `peer`.
fn client_ip(peer: IpAddr, headers: &http::HeaderMap, trusted: &[outbound::Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|hop| hop.trim().parse::<IpAddr>())
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map_while(Result::ok)
        .find(|ip| !is_trusted(*ip))
        .unwrap_or(peer)
}

/// The failed-authentication throttle, around the credential check: an address with
/// `edge.hardening.auth_failures_per_minute` 401s this minute gets 429 until the minute is
/// over, without its key being looked at. In memory only.
pub async fn throttle_auth(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    // Probes and metrics need no credential: nothing to throttle, and they must stay reachable.
    if crate::auth::PUBLIC_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_ip(c.0.ip(), req.headers(), &guard.trusted_proxies))
        .filter(|ip| !guard.auth_exempt.iter().any(|c| c.contains(*ip)));
    if let Some(ip) = ip
        && let Some(retry_after_s) = guard.auth_blocked(ip)
    {
        refused("auth_throttled");
        return ApiError::AuthThrottled { retry_after_s }.into_response();
    }
    let resp = next.run(req).await;
    if resp.status() == StatusCode::UNAUTHORIZED
        && let Some(ip) = ip
    {
        guard.auth_failed(ip);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max_in_flight: usize, auth: u32) -> Arc<Guard> {
        let mut edge = EdgeConfig::default();
        edge.hardening.max_in_flight = max_in_flight;
        edge.hardening.auth_failures_per_minute = auth;
        edge.hardening.auth_throttle_exempt = vec!["10.9.0.0/16".into()];
        Guard::new(&edge)
    }

    #[test]
    fn in_flight_slots_are_capped_and_given_back() {
        let g = guard(2, 1);
        let a = g.enter();
        let b = g.enter();
        assert!(a.is_some() && b.is_some());
        assert!(g.enter().is_none(), "a third request is shed");
        drop(a);
        assert!(g.enter().is_some(), "a finished request frees its slot");
        drop(b);
        assert_eq!(g.in_flight.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_in_flight_gauge_shows_the_requests_holding_slots() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let g = guard(8, 1);
        let gauge = |g: &Guard| {
            metrics::with_local_recorder(&recorder, || g.publish_in_flight());
            let text = handle.render();
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{IN_FLIGHT_GAUGE} ")))
                .map(str::to_owned)
        };
        let (a, b) = (g.enter(), g.enter());
        assert_eq!(gauge(&g).as_deref(), Some("2"));
        drop(a);
        drop(b);
        assert_eq!(
            gauge(&g).as_deref(),
            Some("0"),
            "finished requests leave the gauge"
        );
    }

    #[test]
    fn an_address_is_throttled_after_its_failures_and_others_are_not() {
        let g = guard(1, 3);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert_eq!(g.auth_blocked(ip), None);
            g.auth_failed(ip);
        }
        let wait = g.auth_blocked(ip).unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        assert_eq!(g.auth_blocked([10, 0, 0, 2].into()), None);
        assert!(g.auth_exempt[0].contains([10, 9, 1, 1].into()));
    }

    #[test]
    fn the_client_is_the_last_untrusted_forwarded_hop_behind_a_trusted_proxy() {
        let trusted = [
            outbound::Cidr::parse("10.0.0.0/8").unwrap(),
            outbound::Cidr::parse("::1/128").unwrap(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut h = http::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            "6.6.6.6, 1.2.3.4, 10.0.0.7".parse().unwrap(),
        );
        // From the trusted proxy: the right-most hop it did not add itself.
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("1.2.3.4"));
        assert_eq!(client_ip(ip("::1"), &h, &trusted), ip("1.2.3.4"));
        // From anyone else the header is the client's own writing: ignored.
        assert_eq!(client_ip(ip("5.5.5.5"), &h, &trusted), ip("5.5.5.5"));
        // Several header lines are one list; garbage stops the walk at the peer.
        let mut h = http::HeaderMap::new();
        h.append("x-forwarded-for", "7.7.7.7".parse().unwrap());
        h.append("x-forwarded-for", "10.1.1.1".parse().unwrap());
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("7.7.7.7"));
        let mut h = http::HeaderMap::new();
        h.insert("x-forwarded-for", "not-an-ip".parse().unwrap());
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &trusted), ip("10.0.0.1"));
        assert_eq!(
            client_ip(ip("10.0.0.1"), &http::HeaderMap::new(), &trusted),
            ip("10.0.0.1")
        );
        assert_eq!(client_ip(ip("10.0.0.1"), &h, &[]), ip("10.0.0.1"));
    }

    #[test]
    fn only_model_calls_are_shed() {
        assert!(is_model_call(&Method::POST, "/v1/chat/completions"));
        assert!(is_model_call(&Method::POST, "/v1/messages"));
        assert!(is_model_call(&Method::POST, "/v1/responses"));
        assert!(is_model_call(&Method::POST, "/api/v1/responses"));
        assert!(is_model_call(&Method::POST, "/v1/audio/transcriptions"));
        assert!(!is_model_call(&Method::GET, "/v1/responses/resp_1"));
        assert!(!is_model_call(&Method::GET, "/v1/models"));
        assert!(!is_model_call(&Method::GET, "/readyz"));
        assert!(!is_model_call(&Method::POST, "/admin/v1/keys"));
    }
}
