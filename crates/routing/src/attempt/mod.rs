//! One upstream attempt on one deployment, in order: pick its key and take its circuit slot,
//! translate the request for it (`dialect`), send it under the connect, first-token and total
//! timeouts, then either relay the 2xx answer (`relay`) or classify the refusal (`status.rs`);
//! what happened feeds the deployment's health (circuit, latency, rate limits, key rotation),
//! and a failure says whether to retry (`failed.rs`).

mod failed;
mod status;

use bytes::Bytes;
use tokio::time::Instant;
use tollgate_proto::routing::v1::{FailureKind, WireFormat};

pub(crate) use failed::Failed;
use failed::{Target, not_started};

use crate::call::{Call, Run, cancelled};
use crate::dialect;
use crate::failure::{self, Class};
use crate::health::{CircuitPolicy, now_ms};
use crate::mode::Mode;
use crate::relay::{self, Relayed};
use crate::route_table::{Deployment, Model};
use crate::upstream::{self, Endpoint};

pub(crate) enum Attempt {
    /// The call is over for the client (answered, cut after the first byte, or cancelled);
    /// a streamed response may have a tail to drain.
    Done(Option<reqwest::Response>),
    Failed(Failed),
}

impl Run<'_> {
    /// One attempt of `model` (shown to the client as `shown`) on `dep`.
    pub(crate) async fn attempt(&self, model: &Model, shown: &str, dep: &Deployment) -> Attempt {
        let to = Target {
            dep,
            served: &model.name,
        };
        let now = now_ms();
        let key = match dep.key(now) {
            Ok(k) => k,
            Err(until) => {
                let f = failure::rate_limited(until.saturating_sub(now));
                return Attempt::Failed(to.fail(f, Class::RateLimit).retry(false));
            }
        };
        let Some(_in_flight) = dep.health.begin(now) else {
            // Another call took the half-open probe slot first.
            return Attempt::Failed(to.fail(failure::ejected(), Class::ServerError).retry(false));
        };
        tracing::Span::current().record("deployment", dep.id.as_str());

        let (body, mode) = match dialect::request(
            self.call.format(),
            dep,
            self.body,
            self.call.stream,
            &self.call.content_type,
        ) {
            Ok(b) => b,
            Err(e) => {
                let f = failure::failure(FailureKind::InvalidRequest, e.to_string());
                return Attempt::Failed(to.fail(f, Class::Request));
            }
        };
        let mut cx = self.call_on(model, shown, dep, &mode);
        let resp = match self.send(&cx, to, key, body).await {
            Ok(resp) => resp,
            Err(ended) => return ended,
        };
        let status = resp.status();
        upstream::count(dep, upstream::status_class(status));
        if let Some((permille, ms)) = upstream::headroom(resp.headers()) {
            dep.health
                .set_headroom(permille, now_ms().saturating_add(ms));
        }
        if status.is_success() {
            cx.upstream_id = upstream::upstream_request_id(resp.headers());
            return relay(&mut cx, resp, to, &self.table.policy.circuit).await;
        }
        self.refused(&cx, to, key, resp).await
    }

    /// The attempt as the relay sees it, its deadlines starting now.
    fn call_on<'c>(
        &'c self,
        model: &'c Model,
        shown: &'c str,
        dep: &'c Deployment,
        mode: &'c Mode,
    ) -> Call<'c> {
        let sent_at = Instant::now();
        let deadline = dep
            .timeout
            .map_or(self.deadline, |t| self.deadline.min(sent_at + t));
        // Non-streamed answers arrive whole: only the total timeout bounds them.
        let first_byte_by = if self.call.stream {
            (sent_at + dep.first_token_timeout).min(deadline)
        } else {
            deadline
        };
        Call {
            out: self.out,
            call: self.call,
            served: &model.name,
            shown,
            deployment: dep,
            mode,
            deadline,
            first_byte_by,
            idle: dep.stream_idle_timeout,
            sent_at,
            ttfb: None,
            body: self.body,
            prompt: self.prompt,
            upstream_id: None,
        }
    }

    /// Send the request and wait for the answer's headers; `Err` is how the attempt ended
    /// without them (the edge left, a timeout, a transport error).
    async fn send(
        &self,
        cx: &Call<'_>,
        to: Target<'_>,
        key: Option<usize>,
        body: Bytes,
    ) -> Result<reqwest::Response, Attempt> {
        let dep = cx.deployment;
        let endpoint = match (self.call.format(), self.call.stream) {
            (WireFormat::OpenaiEmbeddings, _) => Endpoint::Embeddings,
            (f, _) if let Some(e) = crate::mode::endpoint(f) => Endpoint::Other(e),
            _ if *cx.mode == Mode::OpenAiResponses => Endpoint::Responses {
                stream: self.call.stream,
            },
            (_, true) => Endpoint::Stream,
            (_, false) => Endpoint::Chat,
        };
        let sent = upstream::send(dep, key, body, self.call, endpoint);
        let sent = tokio::select! {
            biased;
            () = self.out.closed() => {
                cancelled(cx);
                return Err(Attempt::Done(None));
            }
            r = tokio::time::timeout_at(cx.first_byte_by, sent) => r,
        };
        let circuit = &self.table.policy.circuit;
        match sent {
            Ok(Ok(resp)) => Ok(resp),
            Err(_) => {
                upstream::count(dep, "timeout");
                dep.health.failure(circuit, now_ms());
                let failed = to.fail(failure::timeout(), Class::Timeout).retry(false);
                Err(Attempt::Failed(failed))
            }
            Ok(Err(e)) => Err(Attempt::Failed(transport_failed(e, to, circuit))),
        }
    }
}

/// No answer: the connection failed, timed out or broke before the headers.
fn transport_failed(e: reqwest::Error, to: Target<'_>, circuit: &CircuitPolicy) -> Failed {
    let class = upstream::error_class(&e);
    upstream::count(to.dep, class);
    to.dep.health.failure(circuit, now_ms());
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
    to.fail(f, class).retry(class == Class::ServerError)
}

/// A 2xx: relay it, and tell the deployment's health how that went.
async fn relay(
    cx: &mut Call<'_>,
    resp: reqwest::Response,
    to: Target<'_>,
    circuit: &CircuitPolicy,
) -> Attempt {
    match relay::run(cx, resp).await {
        Relayed::Finished { ok, tail } => {
            if ok {
                to.dep.health.success();
            } else {
                to.dep.health.failure(circuit, now_ms());
            }
            Attempt::Done(tail)
        }
        Relayed::Gone => Attempt::Done(None),
        Relayed::NotStarted(cut) => {
            to.dep.health.failure(circuit, now_ms());
            Attempt::Failed(not_started(cut, to))
        }
    }
}
