//! One `ChatCall`, start to end: resolve the model and its fallback chain, then for each model
//! choose deployments and attempt calls (retries only while nothing reached the client, within
//! the retry budget), and always finish with exactly one `Usage` frame unless the edge went away.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tollgate_config::RoutingStrategy;
use tollgate_domain::Usage;
use tollgate_formats::openai::{self, RoutingPrefs, Sort};
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, ChatFrame, FailureKind, WireFormat};
use tonic::Status;
use tracing::{Span, field, instrument};

use crate::attempt::{Attempt, Failed};
use crate::budget::{self, RetryBudget};
use crate::catalog::{Catalog, Clients, Deployment, Model};
use crate::dialect::{self, Mode};
use crate::failure::{self, Class};
use crate::fallback::{blocked_failure, chain};
use crate::health::now_ms;
use crate::relay;
use crate::select::{self, Request};

/// What every call shares; the catalog is swapped whole on reload (calls in flight keep theirs).
pub(crate) struct Shared {
    pub catalog: ArcSwap<Catalog>,
    pub clients: Clients,
    pub budget: RetryBudget,
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

/// One attempt as the relay sees it once a deployment answered.
pub(crate) struct Call<'a> {
    pub out: &'a Out,
    pub call: &'a ChatCall,
    /// Public name of the model serving the call (Start, Usage, billing).
    pub served: &'a str,
    /// The name written into the answer's `model`: what the client asked for (an alias stays
    /// an alias) unless a fallback model serves.
    pub shown: &'a str,
    pub deployment: &'a Deployment,
    /// How the answer reaches the client (passthrough or translated).
    pub mode: &'a Mode,
    /// This attempt's total deadline.
    pub deadline: Instant,
    /// Streams: the first body byte must arrive by then.
    pub first_byte_by: Instant,
    pub idle: Duration,
    /// When the request to this deployment was sent.
    pub sent_at: Instant,
    pub ttfb: Option<Duration>,
    /// The body sent (without router fields), and its prompt size once measured.
    pub body: &'a [u8],
    pub prompt: &'a OnceLock<u64>,
}

impl Call<'_> {
    /// Prompt tokens estimated from the request, for when the provider does not say; measured
    /// at most once per call, and only when needed.
    pub(crate) fn prompt_estimate(&self) -> u64 {
        *self
            .prompt
            .get_or_init(|| dialect::prompt_tokens(self.body, self.call.format()))
    }

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
            model: self.served.to_owned(),
            upstream_model: self.deployment.upstream_model.clone(),
            provider_latency_ms: ms(self.sent_at.elapsed()),
            ttfb_ms: self.ttfb.map_or(0, ms),
            outcome: outcome as i32,
            reported_by_provider: reported,
        })
    }
}

/// The edge dropped the stream: stop here; dropping the response closes the upstream request.
pub(crate) fn cancelled(cx: &Call<'_>) {
    metrics::counter!("tollgate_routing_cancelled_total", "provider" => cx.deployment.provider.name.clone())
        .increment(1);
    tracing::info!("the edge cancelled the call; upstream request dropped");
}

/// A refusal or a final failure: one Failure frame, then Usage (nothing was delivered).
async fn finish_failed(out: &Out, model: &str, f: Failed) {
    let rejected = f.at.is_none();
    if rejected {
        tracing::info!(kind = f.failure.kind, "{}", f.failure.message);
    } else {
        tracing::warn!(
            kind = f.failure.kind,
            class = f.class.label(),
            upstream_status = f.failure.upstream_status,
            "{}",
            f.failure.message
        );
    }
    if out.send(Kind::Failure(f.failure)).await.is_ok() {
        let at = f.at.unwrap_or_default();
        let outcome = if rejected {
            rpc::Outcome::Rejected
        } else {
            rpc::Outcome::Failed
        };
        let _ = out
            .send(Kind::Usage(rpc::Usage {
                model: if f.served.is_empty() {
                    model.to_owned()
                } else {
                    f.served
                },
                deployment: at.deployment,
                provider: at.provider,
                upstream_model: at.upstream_model,
                outcome: outcome as i32,
                ..rpc::Usage::default()
            }))
            .await;
    }
}

fn refuse(f: rpc::Failure) -> Failed {
    Failed::new(f, Class::Request, None)
}

pub(crate) fn strategy_label(s: RoutingStrategy) -> &'static str {
    match s {
        RoutingStrategy::Weighted => "weighted",
        RoutingStrategy::Priority => "priority",
        RoutingStrategy::LeastBusy => "least_busy",
        RoutingStrategy::Latency => "latency",
        RoutingStrategy::Cost => "cost",
    }
}

/// State of one call across its attempts.
pub(crate) struct Run<'a> {
    pub shared: &'a Shared,
    pub catalog: &'a Catalog,
    pub call: &'a ChatCall,
    pub out: &'a Out,
    /// The client's body without router-only fields.
    pub body: &'a [u8],
    pub prompt: &'a OnceLock<u64>,
    pub req: Request<'a>,
    pub deadline: Instant,
    pub attempts: u32,
}

/// How trying one model ended, when it did not serve the call.
enum Stop {
    Failed(Failed),
    /// No retry budget left (or no time): give up with what we have.
    Spent,
}

#[instrument(skip_all, fields(request_id = %call.request_id, model = %call.model, strategy = field::Empty, deployment = field::Empty, served_model = field::Empty, attempts = field::Empty))]
pub(crate) async fn handle(shared: Arc<Shared>, call: ChatCall, out: Out) {
    let catalog = shared.catalog.load_full();
    let limit = match call.deadline_ms {
        0 => catalog.policy.request_timeout,
        ms => Duration::from_millis(ms),
    };
    let deadline = Instant::now() + limit;

    let Some(model) = catalog.get(&call.model).cloned() else {
        return finish_failed(
            &out,
            &call.model,
            refuse(failure::unknown_model(&call.model)),
        )
        .await;
    };
    let allowed = call
        .policy
        .as_ref()
        .map_or(&[][..], |p| p.allowed_models.as_slice());
    if !catalog.allows(allowed, &model) {
        return finish_failed(&out, &model.name, refuse(failure::not_allowed(&call.model))).await;
    }
    let anthropic = dialect::anthropic_client(call.format());
    // Embeddings carry no router fields or chat features; their routing is the model's own.
    let embeddings = call.format() == WireFormat::OpenaiEmbeddings;
    let invalid = |e: tollgate_formats::FormatError| {
        refuse(failure::failure(FailureKind::InvalidRequest, e.to_string()))
    };
    // The full read of preferences and features is skipped when neither can matter: no
    // router key in the body, and no deployment declaring capabilities. Anthropic bodies carry
    // no OpenRouter-style router fields.
    let router_keys = !anthropic
        && !embeddings
        && [&b"\"models\""[..], b"\"provider\"", b"\"route\""]
            .iter()
            .any(|k| memchr::memmem::find(&call.body, k).is_some());
    let prefs = if router_keys || (catalog.needs_features && !anthropic && !embeddings) {
        match openai::peek_routing_prefs(&call.body) {
            Ok(p) => p,
            Err(e) => return finish_failed(&out, &model.name, invalid(e)).await,
        }
    } else {
        RoutingPrefs::default()
    };
    let body = if prefs.has_router_fields {
        match openai::strip_router_fields(&call.body) {
            Ok(b) => b,
            Err(e) => return finish_failed(&out, &model.name, invalid(e)).await,
        }
    } else {
        call.body.clone()
    };
    // Measure the prompt up front only when a routing decision depends on it.
    let prompt = OnceLock::new();
    let mut max_tokens = None;
    if catalog.needs_tokens || prefs.provider.sort == Some(Sort::Price) {
        let (tokens, max) = if embeddings {
            let peek = openai::peek_embeddings(&body).ok();
            (peek.map(|p| p.prompt_tokens_estimate), Some(0))
        } else if anthropic {
            let peek = tollgate_formats::anthropic::peek_messages(&body).ok();
            let max = peek.as_ref().map(|p| p.max_tokens);
            (peek.map(|p| p.prompt_tokens_estimate), max)
        } else {
            let peek = openai::peek_chat(&body).ok();
            let max = peek.as_ref().and_then(|p| p.max_tokens);
            (peek.map(|p| p.prompt_tokens_estimate), max)
        };
        max_tokens = max;
        let _ = prompt.set(tokens.unwrap_or(body.len() as u64 / 4));
    }
    let links = chain(&catalog, &model, &prefs, allowed);
    let mut run = Run {
        shared: &shared,
        catalog: &catalog,
        call: &call,
        out: &out,
        body: &body,
        prompt: &prompt,
        req: Request::new(&prefs, prompt.get().copied().unwrap_or(0), max_tokens),
        deadline,
        attempts: 0,
    };

    let mut last: Option<Failed> = None;
    for (k, link) in links.iter().enumerate() {
        if let Some(prev) = &last {
            let Some(class) = prev.class.fallback_on() else {
                break;
            };
            if link.on.as_ref().is_some_and(|on| !on.contains(&class)) {
                continue;
            }
            metrics::counter!(
                "tollgate_routing_fallbacks_total",
                "from" => model.name.clone(),
                "to" => link.model.name.clone(),
                "class" => prev.class.label(),
            )
            .increment(1);
            tracing::info!(to = %link.model.name, class = prev.class.label(), "falling back");
        }
        // The client's own name for the model it asked for; a fallback shows its public name.
        let shown = if k == 0 {
            call.model.as_str()
        } else {
            link.model.name.as_str()
        };
        match run.model(&link.model, shown).await {
            Ok(tail) => {
                drop(out);
                if let Some(resp) = tail {
                    relay::drain(resp).await;
                }
                return;
            }
            Err(Stop::Failed(f)) => last = Some(f),
            Err(Stop::Spent) => break,
        }
    }
    let f = last.unwrap_or_else(|| Failed::new(failure::unreachable(), Class::ServerError, None));
    Span::current().record("attempts", run.attempts);
    finish_failed(&out, &model.name, f).await;
}

impl Run<'_> {
    /// Try `model`'s deployments until one serves the call (`Ok`, with a response tail to
    /// drain), or the model is out of options.
    async fn model(
        &mut self,
        model: &Model,
        shown: &str,
    ) -> Result<Option<reqwest::Response>, Stop> {
        let span = Span::current();
        span.record("strategy", strategy_label(self.req.strategy(model)));
        if let Some(w) = model.context_window.filter(|w| self.req.tokens.prompt > *w) {
            let f = failure::context_too_long(w, self.req.tokens.prompt);
            return Err(Stop::Failed(
                Failed::new(f, Class::ContextLength, None).served(&model.name),
            ));
        }
        let policy = self.catalog.policy;
        let mut tried: Vec<usize> = Vec::with_capacity(2);
        let mut last: Option<Failed> = None;
        let mut again = 0;
        for _ in 0..policy.max_attempts {
            let now = now_ms();
            let retry_tried = last.as_ref().is_some_and(|f| f.retry_same);
            let i = match select::pick(model, &self.req, &tried, retry_tried, now, rand::random()) {
                Ok(i) => i,
                Err(blocked) => {
                    return Err(Stop::Failed(
                        last.unwrap_or_else(|| blocked_failure(blocked, model, now)),
                    ));
                }
            };
            if self.attempts == 0 {
                self.shared
                    .budget
                    .deposit(policy.budget_ratio, policy.budget_min);
            } else if !self.shared.budget.withdraw() {
                metrics::counter!("tollgate_routing_retry_budget_exhausted_total").increment(1);
                tracing::warn!("retry budget exhausted; not retrying");
                return Err(last.map_or(Stop::Spent, Stop::Failed));
            }
            if tried.contains(&i) {
                again += 1;
                let wait =
                    budget::backoff(again, policy.backoff, policy.backoff_max, rand::random());
                let until = (Instant::now() + wait).min(self.deadline);
                tokio::select! {
                    biased;
                    () = self.out.closed() => return Ok(None),
                    () = tokio::time::sleep_until(until) => {}
                }
            } else {
                tried.push(i);
            }
            self.attempts += 1;
            span.record("attempts", self.attempts);
            let Some(dep) = model.deployments.get(i) else {
                break;
            };
            match self.attempt(model, shown, dep).await {
                Attempt::Done(tail) => {
                    span.record("served_model", model.name.as_str());
                    return Ok(tail);
                }
                Attempt::Failed(f) => {
                    metrics::counter!("tollgate_routing_attempt_failures_total", "class" => f.class.label())
                        .increment(1);
                    let go_on = f.retry && Instant::now() < self.deadline;
                    last = Some(f);
                    if !go_on {
                        break;
                    }
                }
            }
        }
        Err(last.map_or(Stop::Spent, Stop::Failed))
    }
}
