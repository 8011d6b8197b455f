//! An answer that was not a 2xx: rest a rate-limited or refused key, read the provider's error
//! (bounded) for a message safe to show, and classify it: retry here, elsewhere, fall back, or
//! give the client the provider's answer.

use bytes::Bytes;
use http::StatusCode;
use tollgate_proto::routing::v1 as rpc;

use super::Attempt;
use super::failed::{Failed, Target, refused_key};
use crate::call::{Call, Run, cancelled};
use crate::failure::{self, Class, Scrub};
use crate::health::{CircuitPolicy, now_ms};
use crate::route_table::Deployment;

/// Largest provider error body read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long a key rests after a 429 that named no `Retry-After`.
const DEFAULT_RETRY_AFTER_MS: u64 = 1_000;

impl Run<'_> {
    /// The deployment answered with an error status.
    pub(super) async fn refused(
        &self,
        cx: &Call<'_>,
        to: Target<'_>,
        key: Option<usize>,
        resp: reqwest::Response,
    ) -> Attempt {
        let dep = cx.deployment;
        let circuit = &self.table.policy.circuit;
        let status = resp.status();
        let now = now_ms();
        match status.as_u16() {
            429 => {
                let ms = failure::retry_after_ms(resp.headers());
                let until = now + if ms == 0 { DEFAULT_RETRY_AFTER_MS } else { ms };
                dep.rest_key(key, until);
                let f = failure::rate_limited(until - now);
                // Another key of this deployment, if any, is tried at once.
                return Attempt::Failed(to.fail(f, Class::RateLimit).retry(true));
            }
            401 | 403 => {
                let f = failure::from_status(status, resp.headers(), &[], &scrub(dep, cx.shown));
                let failed = to.fail(f, Class::Credentials);
                return Attempt::Failed(refused_key(dep, key, now, circuit, failed));
            }
            _ => {}
        }
        let headers = resp.headers().clone();
        let body = tokio::select! {
            biased;
            () = self.out.closed() => {
                cancelled(cx);
                return Attempt::Done(None);
            }
            b = tokio::time::timeout_at(cx.deadline, read_limited(resp, MAX_ERROR_BODY)) => b.unwrap_or_default(),
        };
        let f = failure::from_status(status, &headers, &body, &scrub(dep, cx.shown));
        let failed = classify(status, &body, f, to, key, now, circuit);
        if matches!(status.as_u16(), 404 | 408) || status.is_server_error() {
            dep.health.failure(circuit, now);
        }
        Attempt::Failed(failed)
    }
}

/// Whether another attempt may help after this error status, and of which class it is.
fn classify(
    status: StatusCode,
    body: &[u8],
    f: rpc::Failure,
    to: Target<'_>,
    key: Option<usize>,
    now: u64,
    circuit: &CircuitPolicy,
) -> Failed {
    match status.as_u16() {
        408 => to.fail(f, Class::Timeout).retry(true),
        409 => to.fail(f, Class::ServerError).retry(true),
        // This deployment is misconfigured: others may still serve.
        404 => to.fail(f, Class::ServerError).retry(false),
        _ if status.is_server_error() => to.fail(f, Class::ServerError).retry(true),
        // A key refused in the body (Gemini's 400 "API key not valid") as if by a 401.
        _ => match failure::request_class(body) {
            Class::Credentials => {
                refused_key(to.dep, key, now, circuit, to.fail(f, Class::Credentials))
            }
            class => to.fail(f, class),
        },
    }
}

/// What a provider's message must not show the client: the upstream model name (shown as the
/// public one) and the deployment's key.
fn scrub<'s>(dep: &'s Deployment, shown: &'s str) -> Scrub<'s> {
    Scrub {
        upstream_model: &dep.upstream_model,
        public_model: shown,
        secret: dep.keys.first().map(|k| k.secret.expose()),
    }
}

/// Up to `limit` bytes of a response body (enough to find an error message).
async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Bytes {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = limit.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= limit {
            break;
        }
    }
    Bytes::from(buf)
}
