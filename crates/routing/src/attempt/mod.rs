//! One upstream attempt on one deployment: pick its key, call it under the connect, first-token
//! and total timeouts, feed what happened into its health (circuit, latency, rate limits, key
//! rotation), and either relay the answer or say how it failed and whether to retry.

use bytes::Bytes;
use tokio::time::Instant;
use tollgate_proto::routing::v1::{self as rpc, FailureKind, WireFormat};

use crate::catalog::{Deployment, Model};
use crate::chat::{Call, Run, cancelled};
use crate::dialect;
use crate::failure::{self, Class, Scrub};
use crate::health::{CircuitPolicy, now_ms};
use crate::relay::{self, Cut, Relayed};
use crate::upstream::{self, Endpoint};

/// Largest provider error body read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long a key rests after a 429 that named no `Retry-After`.
const DEFAULT_RETRY_AFTER_MS: u64 = 1_000;

/// Where a failed attempt went, for the final Usage frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct At {
    pub deployment: String,
    pub provider: String,
    pub upstream_model: String,
}

/// An attempt that delivered nothing to the client.
pub(crate) struct Failed {
    pub failure: rpc::Failure,
    pub class: Class,
    /// Another attempt may help.
    pub retry: bool,
    /// ...even on a deployment already tried (after a backoff).
    pub retry_same: bool,
    pub at: Option<At>,
    /// Public name of the model that failed (empty: the requested one).
    pub served: String,
}

impl Failed {
    pub(crate) fn new(failure: rpc::Failure, class: Class, at: Option<&Deployment>) -> Failed {
        Failed {
            failure,
            class,
            retry: false,
            retry_same: false,
            at: at.map(|d| At {
                deployment: d.id.clone(),
                provider: d.provider.name.clone(),
                upstream_model: d.upstream_model.clone(),
            }),
            served: String::new(),
        }
    }

    pub(crate) fn served(mut self, model: &str) -> Failed {
        self.served = model.to_owned();
        self
    }

    fn retry(mut self, same: bool) -> Failed {
        self.retry = true;
        self.retry_same = same;
        self
    }
}

pub(crate) enum Attempt {
    /// The call is over for the client (answered, cut after the first byte, or cancelled);
    /// a streamed response may have a tail to drain.
    Done(Option<reqwest::Response>),
    Failed(Failed),
}

impl Run<'_> {
    pub(crate) async fn attempt(&self, model: &Model, shown: &str, dep: &Deployment) -> Attempt {
        let now = now_ms();
        let circuit = &self.catalog.policy.circuit;
        let fail =
            |f: rpc::Failure, class: Class| Failed::new(f, class, Some(dep)).served(&model.name);
        let key = match dep.key(now) {
            Ok(k) => k,
            Err(until) => {
                let f = failure::rate_limited(until.saturating_sub(now));
                return Attempt::Failed(fail(f, Class::RateLimit).retry(false));
            }
        };
        let Some(_in_flight) = dep.health.begin(now) else {
            // Another call took the half-open probe slot first.
            return Attempt::Failed(fail(failure::ejected(), Class::ServerError).retry(false));
        };
        tracing::Span::current().record("deployment", dep.id.as_str());

        let stream = self.call.stream;
        let endpoint = match (self.call.format(), stream) {
            (WireFormat::OpenaiEmbeddings, _) => Endpoint::Embeddings,
            (_, true) => Endpoint::Stream,
            (_, false) => Endpoint::Chat,
        };
        let (body, mode) = match dialect::request(self.call.format(), dep, self.body, stream) {
            Ok(b) => b,
            Err(e) => {
                let f = failure::failure(FailureKind::InvalidRequest, e.to_string());
                return Attempt::Failed(fail(f, Class::Request));
            }
        };
        let sent_at = Instant::now();
        let deadline = dep
            .timeout
            .map_or(self.deadline, |t| self.deadline.min(sent_at + t));
        // Non-streamed answers arrive whole: only the total timeout bounds them.
        let first_byte_by = if stream {
            (sent_at + dep.first_token_timeout).min(deadline)
        } else {
            deadline
        };
        let mut cx = Call {
            out: self.out,
            call: self.call,
            served: &model.name,
            shown,
            deployment: dep,
            mode: &mode,
            deadline,
            first_byte_by,
            idle: dep.stream_idle_timeout,
            sent_at,
            ttfb: None,
            body: self.body,
            prompt: self.prompt,
        };
        let sent = tokio::select! {
            biased;
            () = self.out.closed() => {
                cancelled(&cx);
                return Attempt::Done(None);
            }
            r = tokio::time::timeout_at(first_byte_by, upstream::send(dep, key, body, &self.call.request_id, endpoint)) => r,
        };
        let resp = match sent {
            Err(_) => {
                upstream::count(dep, "timeout");
                dep.health.failure(circuit, now_ms());
                return Attempt::Failed(fail(failure::timeout(), Class::Timeout).retry(false));
            }
            Ok(Err(e)) => {
                let class = upstream::error_class(&e);
                upstream::count(dep, class);
                dep.health.failure(circuit, now_ms());
                tracing::warn!(error = %e.without_url(), class, "upstream request failed");
                let f = match class {
                    "connect_error" => failure::unreachable(),
                    "timeout" => failure::timeout(),
                    _ => failure::transport(),
                };
                let class = if class == "timeout" {
                    Class::Timeout
                } else {
                    Class::ServerError
                };
                return Attempt::Failed(fail(f, class).retry(class == Class::ServerError));
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        upstream::count(dep, upstream::status_class(status));
        if let Some((permille, ms)) = upstream::headroom(resp.headers()) {
            dep.health
                .set_headroom(permille, now_ms().saturating_add(ms));
        }

        if status.is_success() {
            return match relay::relay(&mut cx, resp).await {
                Relayed::Finished { ok, tail } => {
                    if ok {
                        dep.health.success();
                    } else {
                        dep.health.failure(circuit, now_ms());
                    }
                    Attempt::Done(tail)
                }
                Relayed::Gone => Attempt::Done(None),
                Relayed::NotStarted(cut) => {
                    dep.health.failure(circuit, now_ms());
                    Attempt::Failed(not_started(cut, fail))
                }
            };
        }

        let code = status.as_u16();
        let now = now_ms();
        match code {
            429 => {
                let ms = failure::retry_after_ms(resp.headers());
                let until = now + if ms == 0 { DEFAULT_RETRY_AFTER_MS } else { ms };
                dep.rest_key(key, until);
                let f = failure::rate_limited(until - now);
                // Another key of this deployment, if any, is tried at once.
                return Attempt::Failed(fail(f, Class::RateLimit).retry(true));
            }
            401 | 403 => {
                let f = failure::from_status(status, resp.headers(), &[], &self.scrub(dep, shown));
                return Attempt::Failed(refused_key(
                    dep,
                    key,
                    now,
                    circuit,
                    fail(f, Class::Credentials),
                ));
            }
            _ => {}
        }
        let headers = resp.headers().clone();
        let body = tokio::select! {
            biased;
            () = self.out.closed() => {
                cancelled(&cx);
                return Attempt::Done(None);
            }
            b = tokio::time::timeout_at(deadline, read_limited(resp, MAX_ERROR_BODY)) => b.unwrap_or_default(),
        };
        let f = failure::from_status(status, &headers, &body, &self.scrub(dep, shown));
        let failed = match code {
            408 => fail(f, Class::Timeout).retry(true),
            409 => fail(f, Class::ServerError).retry(true),
            // This deployment is misconfigured: others may still serve.
            404 => fail(f, Class::ServerError).retry(false),
            _ if status.is_server_error() => fail(f, Class::ServerError).retry(true),
            // A key refused in the body (Gemini's 400 "API key not valid") as if by a 401.
            _ => match failure::request_class(&body) {
                Class::Credentials => {
                    refused_key(dep, key, now, circuit, fail(f, Class::Credentials))
                }
                class => fail(f, class),
            },
        };
        if matches!(code, 404 | 408) || status.is_server_error() {
            dep.health.failure(circuit, now);
        }
        Attempt::Failed(failed)
    }

    fn scrub<'s>(&'s self, dep: &'s Deployment, shown: &'s str) -> Scrub<'s> {
        Scrub {
            upstream_model: &dep.upstream_model,
            public_model: shown,
            secret: dep.keys.first().map(|k| k.secret.expose()),
        }
    }
}

/// A 2xx whose body failed before anything reached the client.
/// The deployment refused key `key`: rotate away from it and try the next key, if there is
/// one. A lone key stays, so the client keeps seeing the real cause rather than a rate limit.
fn refused_key(
    dep: &Deployment,
    key: Option<usize>,
    now: u64,
    circuit: &CircuitPolicy,
    failed: Failed,
) -> Failed {
    let more = dep.keys.len() > 1;
    if more {
        let rest = u64::try_from(circuit.ejection.as_millis()).unwrap_or(30_000);
        dep.rest_key(key, now + rest);
    }
    failed.retry(more)
}

fn not_started(cut: Cut, fail: impl Fn(rpc::Failure, Class) -> Failed) -> Failed {
    match cut {
        Cut::FirstByte | Cut::Timeout | Cut::Idle => {
            fail(failure::timeout(), Class::Timeout).retry(false)
        }
        Cut::Broken | Cut::Cancelled => fail(failure::transport(), Class::ServerError).retry(true),
        Cut::Refused => fail(
            failure::failure(
                FailureKind::UpstreamError,
                "The upstream provider reported an error instead of an answer.",
            ),
            Class::ServerError,
        )
        .retry(true),
        Cut::TooLarge => fail(
            failure::failure(
                FailureKind::UpstreamError,
                "The upstream provider sent a malformed or oversized answer.",
            ),
            Class::ServerError,
        ),
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
