//! One `ChatCall`, start to end: resolve the model, check the policy, choose a deployment, call
//! the provider (one retry on another deployment before the first byte), hand the answer to the
//! relay, and always finish with exactly one `Usage` frame unless the edge went away.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tollgate_domain::Usage;
use tollgate_formats::openai;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, ChatFrame, FailureKind, WireFormat};
use tonic::Status;
use tracing::{Span, field, instrument};

use crate::catalog::{Catalog, Deployment, Model};
use crate::failure::{self, Scrub};
use crate::strategy::Strategy;
use crate::{relay, upstream};

/// Largest provider error body read to find its message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What every call shares: built once at start.
pub(crate) struct Shared {
    pub catalog: Catalog,
    pub http: reqwest::Client,
    pub strategy: Box<dyn Strategy>,
    pub default_timeout: Duration,
}

/// The edge went away: nothing more can be sent.
#[derive(Debug)]
pub(crate) struct Gone;

/// The sending half of the frame stream.
pub(crate) struct Out {
    tx: mpsc::Sender<Result<ChatFrame, Status>>,
}

impl Out {
    pub(crate) fn new(tx: mpsc::Sender<Result<ChatFrame, Status>>) -> Self {
        Out { tx }
    }

    pub(crate) async fn send(&self, kind: Kind) -> Result<(), Gone> {
        self.tx
            .send(Ok(ChatFrame { kind: Some(kind) }))
            .await
            .map_err(|_| Gone)
    }

    /// Resolves when the edge dropped the stream (client hung up or edge cancelled).
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }
}

/// The call as the relay sees it once a deployment answered.
pub(crate) struct Call<'a> {
    pub out: &'a Out,
    pub call: &'a ChatCall,
    pub model: &'a Model,
    pub deployment: &'a Deployment,
    pub deadline: Instant,
    /// When the request to this deployment was sent.
    pub sent_at: Instant,
    pub ttfb: Option<Duration>,
}

impl Call<'_> {
    /// The final Usage frame for this call.
    pub(crate) fn usage(&self, usage: Usage, reported: bool, outcome: rpc::Outcome) -> Kind {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Kind::Usage(rpc::Usage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            deployment: self.deployment.id.clone(),
            provider: self.deployment.provider.name.clone(),
            model: self.model.name.clone(),
            upstream_model: self.deployment.upstream_model.clone(),
            provider_latency_ms: ms(self.sent_at.elapsed()),
            ttfb_ms: self.ttfb.map_or(0, ms),
            outcome: outcome as i32,
            reported_by_provider: reported,
        })
    }

    /// A failure before anything reached the client: one Failure frame, then Usage.
    pub(crate) async fn fail(&self, f: rpc::Failure) {
        tracing::warn!(
            kind = f.kind,
            upstream_status = f.upstream_status,
            "{}",
            f.message
        );
        if self.out.send(Kind::Failure(f)).await.is_ok() {
            let _ = self
                .out
                .send(self.usage(Usage::default(), false, rpc::Outcome::Failed))
                .await;
        }
    }

    /// Prompt tokens estimated from the request, when the provider has not said.
    pub(crate) fn input_estimate(&self) -> u64 {
        openai::peek_chat(&self.call.body).map_or(self.call.body.len() as u64 / 4, |p| {
            p.prompt_tokens_estimate
        })
    }
}

/// A refusal before any deployment was chosen.
async fn reject(out: &Out, model: &str, f: rpc::Failure) {
    tracing::info!(kind = f.kind, "{}", f.message);
    if out.send(Kind::Failure(f)).await.is_ok() {
        let _ = out
            .send(Kind::Usage(rpc::Usage {
                model: model.to_owned(),
                outcome: rpc::Outcome::Rejected as i32,
                ..rpc::Usage::default()
            }))
            .await;
    }
}

#[instrument(skip_all, fields(request_id = %call.request_id, model = %call.model, deployment = field::Empty))]
pub(crate) async fn handle(shared: Arc<Shared>, call: ChatCall, out: Out) {
    let budget = match call.deadline_ms {
        0 => shared.default_timeout,
        ms => Duration::from_millis(ms),
    };
    let deadline = Instant::now() + budget;

    let Some(model) = shared.catalog.get(&call.model).cloned() else {
        return reject(&out, &call.model, failure::unknown_model(&call.model)).await;
    };
    let allowed = call
        .policy
        .as_ref()
        .map_or(&[][..], |p| p.allowed_models.as_slice());
    if !shared.catalog.allows(allowed, &model) {
        return reject(&out, &model.name, failure::not_allowed(&call.model)).await;
    }
    if !matches!(
        call.format(),
        WireFormat::OpenaiChat | WireFormat::Unspecified
    ) {
        let f = failure::failure(
            FailureKind::InvalidRequest,
            "This wire format is not supported by the routing service yet.",
        );
        return reject(&out, &model.name, f).await;
    }

    let mut tried: Vec<usize> = Vec::with_capacity(2);
    loop {
        let Some(index) = shared.strategy.choose(&model.deployments, &tried) else {
            // Unreachable with a validated config (every model has a deployment).
            return reject(&out, &model.name, failure::unreachable()).await;
        };
        tried.push(index);
        let Some(dep) = model.deployments.get(index) else {
            return reject(&out, &model.name, failure::unreachable()).await;
        };
        Span::current().record("deployment", dep.id.as_str());
        // One retry on another deployment, and only while nothing reached the client.
        let may_retry = tried.len() == 1 && model.deployments.len() > 1;

        let force_usage = call.stream && dep.provider.stream_usage;
        let body = match openai::rewrite_chat_request(&call.body, &dep.upstream_model, force_usage)
        {
            Ok(b) => b,
            Err(e) => {
                let f = failure::failure(FailureKind::InvalidRequest, e.to_string());
                return reject(&out, &model.name, f).await;
            }
        };
        let mut cx = Call {
            out: &out,
            call: &call,
            model: &model,
            deployment: dep,
            deadline,
            sent_at: Instant::now(),
            ttfb: None,
        };
        let sent = tokio::select! {
            biased;
            () = out.closed() => return cancelled(&cx),
            r = tokio::time::timeout_at(deadline, upstream::send(&shared.http, dep, body, &call.request_id, call.stream)) => r,
        };
        let resp = match sent {
            Err(_) => {
                upstream::count(dep, "timeout");
                return cx.fail(failure::timeout()).await;
            }
            Ok(Err(e)) => {
                let class = upstream::error_class(&e);
                upstream::count(dep, class);
                tracing::warn!(error = %e.without_url(), class, "upstream request failed");
                if class == "connect_error" && may_retry {
                    continue;
                }
                return cx
                    .fail(match class {
                        "connect_error" => failure::unreachable(),
                        "timeout" => failure::timeout(),
                        _ => failure::transport(),
                    })
                    .await;
            }
            Ok(Ok(resp)) => resp,
        };
        let status = resp.status();
        upstream::count(dep, upstream::status_class(status));
        if status.is_success() {
            let tail = relay::relay(&mut cx, resp).await;
            drop(out);
            if let Some(resp) = tail {
                relay::drain(resp).await;
            }
            return;
        }
        if failure::retryable(status) && may_retry {
            tracing::warn!(
                status = status.as_u16(),
                "upstream error; retrying on another deployment"
            );
            continue;
        }
        let headers = resp.headers().clone();
        let body = tokio::select! {
            biased;
            () = out.closed() => return cancelled(&cx),
            b = tokio::time::timeout_at(deadline, read_limited(resp, MAX_ERROR_BODY)) => b.unwrap_or_default(),
        };
        let scrub = Scrub {
            upstream_model: &dep.upstream_model,
            public_model: &call.model,
            secret: dep.provider.secret(),
        };
        return cx
            .fail(failure::from_status(status, &headers, &body, &scrub))
            .await;
    }
}

/// The edge dropped the stream: stop here; dropping the response closes the upstream request.
pub(crate) fn cancelled(cx: &Call<'_>) {
    metrics::counter!("tollgate_routing_cancelled_total", "provider" => cx.deployment.provider.name.clone())
        .increment(1);
    tracing::info!("the edge cancelled the call; upstream request dropped");
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
