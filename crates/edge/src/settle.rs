//! The end of every admitted request: release the concurrency slot, settle the budget and
//! tokens-per-minute reservations to what was really used, emit exactly one usage event
//! and one log record. Runs in a tracked task so a client hanging up cannot cancel it.
//!
//! A [`Settlement`] ends once, by value: [`Settlement::finish`] with the [`Ending`] the client
//! saw (an answer, the very [`ApiError`] it received, or a stream cut by an error event). The
//! only other way it ends is being dropped unfinished, which happens when the client hangs up
//! (axum drops the handler future or the response body): that settles as `499
//! client_closed_request`, and nothing else does.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tollgate_domain::{Money, Outcome, RequestId, Usage};
use tollgate_limits::Ticket;
use tollgate_proto::billing::v1::UsageEvent;
use tollgate_proto::logging::v1::LogRecord;
use tollgate_proto::routing::v1 as rpc;

use crate::error::ApiError;
use crate::request::ModelCall;
use crate::snapshot::KeyEntry;
use crate::state::AppState;

/// Cap on a response body kept for content logging.
const MAX_LOGGED_RESPONSE: usize = 256 * 1024;

/// How a request ended for its client: what its ledger row and log record say.
#[derive(Clone, Copy, Debug)]
pub enum Ending<'a> {
    /// The answer went out (whole, or streamed to its end), with the status routing started it
    /// with.
    Answered,
    /// The client got this error instead of an answer: its status and code are recorded.
    Refused(&'a ApiError),
    /// A streamed answer ended early by an error event, after its status went out.
    Cut { status: u16, code: &'static str },
}

/// The settlement of one admitted request, fed by routing's frames until it ends.
pub struct Settlement {
    /// `None` once settled: finishing and dropping both take it, so a request settles once.
    open: Option<Open>,
}

/// Everything settlement needs, gathered while the request runs.
struct Open {
    state: AppState,
    ticket: Ticket,
    /// Budget room reserved mid-stream (see `overrun`); returned at settlement.
    extensions: Vec<Ticket>,
    caller: Arc<KeyEntry>,
    request_id: RequestId,
    stream: bool,
    started_at: SystemTime,
    started: Instant,
    ttfb_ms: u64,
    /// Filled from routing's frames.
    deployment: String,
    provider: String,
    served_model: String,
    progress: rpc::Progress,
    final_usage: Option<rpc::Usage>,
    prompt_estimate: u64,
    /// The units the request asked for (images, characters, ...): billed when routing never
    /// reported usage, as the prompt estimate is for tokens.
    units_estimate: Option<tollgate_domain::Units>,
    /// Routing's Start status (what a successful answer went out with).
    start_status: u16,
    request_body: Option<Bytes>,
    response_body: Option<Vec<u8>>,
    /// The request's trace, carried into billing's and logging's batches.
    traceparent: String,
}

/// What the ledger and the logs record about how it ended.
struct Recorded {
    http_status: u16,
    error_code: &'static str,
    client_gone: bool,
    /// The gateway itself refused with a 503 (routing unreachable, routing gone before the
    /// answer started, no deployment reachable): the caller got nothing, so it pays nothing.
    gateway_refused: bool,
}

impl Settlement {
    /// The settlement of `call`, holding the admission `ticket`; `body` is kept for content
    /// logging where the tenant allows it.
    pub fn new(state: AppState, ticket: Ticket, call: &ModelCall, body: &Bytes) -> Self {
        let log_content = call.caller.log_content;
        Settlement {
            open: Some(Open {
                state,
                ticket,
                extensions: Vec::new(),
                caller: call.caller.clone(),
                request_id: call.request_id,
                stream: call.peek.stream,
                started_at: call.started_at,
                started: call.started,
                ttfb_ms: 0,
                deployment: String::new(),
                provider: String::new(),
                served_model: call.peek.model.clone(),
                progress: rpc::Progress::default(),
                final_usage: None,
                prompt_estimate: call.peek.prompt_tokens_estimate,
                units_estimate: call.peek.units,
                start_status: 200,
                request_body: log_content.then(|| body.clone()),
                response_body: log_content.then(Vec::new),
                traceparent: tollgate_telemetry::propagation::current_traceparent(),
            }),
        }
    }

    pub fn on_start(&mut self, s: &rpc::Start) {
        let Some(o) = self.open.as_mut() else { return };
        o.deployment.clone_from(&s.deployment);
        o.provider.clone_from(&s.provider);
        if !s.model.is_empty() {
            o.served_model.clone_from(&s.model);
        }
        o.start_status = u16::try_from(s.status).unwrap_or(200);
    }

    pub fn on_data(&mut self, b: &Bytes) {
        let Some(o) = self.open.as_mut() else { return };
        if o.ttfb_ms == 0 {
            o.ttfb_ms = o.started.elapsed().as_millis() as u64;
        }
        if let Some(buf) = o.response_body.as_mut()
            && buf.len() < MAX_LOGGED_RESPONSE
        {
            let room = MAX_LOGGED_RESPONSE - buf.len();
            buf.extend_from_slice(&b[..b.len().min(room)]);
        }
    }

    pub fn on_progress(&mut self, p: rpc::Progress) {
        if let Some(o) = self.open.as_mut() {
            o.progress = p;
        }
    }

    pub fn on_usage(&mut self, u: rpc::Usage) {
        let Some(o) = self.open.as_mut() else { return };
        if o.deployment.is_empty() {
            o.deployment.clone_from(&u.deployment);
            o.provider.clone_from(&u.provider);
        }
        o.final_usage = Some(u);
    }

    /// Hold a mid-stream budget extension until settlement.
    pub fn add_extension(&mut self, t: Ticket) {
        if let Some(o) = self.open.as_mut() {
            o.extensions.push(t);
        }
    }

    /// The cost of the provider-reported usage, once the final Usage frame arrived.
    pub fn reported_cost(&self) -> Option<Money> {
        let o = self.open.as_ref()?;
        let u = o.final_usage.as_ref()?;
        Some(o.cost(&usage_of(u)))
    }

    /// The tracker shutdown waits on for side effects, for work that must finish settling
    /// after the request's own task is gone (`None` once settled).
    pub fn tracker(&self) -> Option<tokio_util::task::TaskTracker> {
        self.open.as_ref().map(|o| o.state.tracker.clone())
    }

    /// End the request as its client saw it end.
    pub fn finish(mut self, ending: Ending<'_>) {
        let Some(open) = self.open.take() else { return };
        let recorded = match ending {
            Ending::Answered => Recorded {
                http_status: open.start_status,
                error_code: "",
                client_gone: false,
                gateway_refused: false,
            },
            Ending::Refused(err) => Recorded {
                http_status: err.status().as_u16(),
                error_code: err.code(),
                client_gone: false,
                gateway_refused: matches!(err, ApiError::Unavailable(_)),
            },
            Ending::Cut { status, code } => Recorded {
                http_status: status,
                error_code: code,
                client_gone: false,
                gateway_refused: false,
            },
        };
        open.settle(recorded);
    }
}

impl Drop for Settlement {
    /// Unfinished at drop means the client went away (axum dropped the handler or the body).
    fn drop(&mut self) {
        if let Some(open) = self.open.take() {
            open.settle(Recorded {
                http_status: 499,
                error_code: "client_closed_request",
                client_gone: true,
                gateway_refused: false,
            });
        }
    }
}

impl Open {
    /// What `usage` costs at the price billing picks: the serving deployment's, effective when
    /// the request started.
    fn cost(&self, usage: &Usage) -> Money {
        self.state
            .prices
            .load()
            .cost(&self.served_model, &self.deployment, self.started_at, usage)
    }

    /// Hand the side effects to a tracked task: a client hanging up cannot cancel them.
    fn settle(mut self, recorded: Recorded) {
        let (usage, outcome, reported) = self.final_numbers(&recorded);
        let cost = self.cost(&usage);
        let latency_ms = self.started.elapsed().as_millis() as u64;
        let ev = self.usage_event(&usage, outcome, reported, &recorded, latency_ms);
        let log = self.log_record(&ev, &usage, cost, &recorded, latency_ms);
        metrics::counter!(
            "tollgate_requests_total",
            "outcome" => outcome.as_str(),
            "status" => status_class(recorded.http_status),
        )
        .increment(1);
        metrics::histogram!("tollgate_request_duration_seconds")
            .record(self.started.elapsed().as_secs_f64());
        let total_tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        let Open {
            state,
            ticket,
            extensions,
            ..
        } = self;
        state.tracker.clone().spawn(async move {
            // The real cost replaces the budget reservation made at admission, and the tokens
            // really used replace the tokens-per-minute reservation.
            state
                .limiter
                .settle_usage(
                    &ticket,
                    Some(crate::budgets::nanos(cost)),
                    Some(total_tokens),
                )
                .await;
            // The real cost is all in the admission ticket's settlement: extensions go back.
            for t in &extensions {
                state.limiter.settle_usage(t, Some(0), None).await;
            }
            state.logs.push(log);
            state.usage.record(ev).await;
        });
    }

    fn usage_event(
        &self,
        usage: &Usage,
        outcome: Outcome,
        reported: bool,
        recorded: &Recorded,
        latency_ms: u64,
    ) -> UsageEvent {
        let id = &self.caller.identity;
        UsageEvent {
            request_id: self.request_id.to_string(),
            tenant_id: id.tenant_id.clone(),
            team_id: id.team_id.clone(),
            key_id: id.key_id.clone(),
            user_id: id.user_id.clone(),
            model: self.served_model.clone(),
            deployment: self.deployment.clone(),
            provider: self.provider.clone(),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            http_status: u32::from(recorded.http_status),
            outcome: outcome.as_str().to_owned(),
            stream: self.stream,
            started_at: Some(prost_types::Timestamp::from(self.started_at)),
            latency_ms,
            reported_by_provider: reported,
            traceparent: self.traceparent.clone(),
            billed_unit: usage
                .units
                .map(|u| u.unit.as_str().to_owned())
                .unwrap_or_default(),
            billed_units: usage.units.map_or(0, |u| u.count),
        }
    }

    fn log_record(
        &mut self,
        ev: &UsageEvent,
        usage: &Usage,
        cost: Money,
        recorded: &Recorded,
        latency_ms: u64,
    ) -> LogRecord {
        LogRecord {
            request_id: ev.request_id.clone(),
            tenant_id: ev.tenant_id.clone(),
            team_id: ev.team_id.clone(),
            key_id: ev.key_id.clone(),
            model: ev.model.clone(),
            deployment: ev.deployment.clone(),
            provider: ev.provider.clone(),
            http_status: ev.http_status,
            error_code: recorded.error_code.to_owned(),
            started_at: ev.started_at,
            latency_ms,
            ttfb_ms: self.ttfb_ms,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: cost.to_usd_string(),
            stream: self.stream,
            request_body: self.request_body.take().unwrap_or_default(),
            response_body: self
                .response_body
                .take()
                .map(Bytes::from)
                .unwrap_or_default(),
            log_content: self.caller.log_content,
            traceparent: std::mem::take(&mut self.traceparent),
        }
    }

    /// Billed usage: the provider's numbers when it reported them; otherwise the prompt estimate
    /// plus what was delivered, and the units the request asked for — never nothing, except for
    /// a 503 the gateway produced before anything was delivered, which costs nothing (the row
    /// stays: one event per admission).
    fn final_numbers(&self, recorded: &Recorded) -> (Usage, Outcome, bool) {
        if let Some(u) = &self.final_usage {
            let outcome = match rpc::Outcome::try_from(u.outcome) {
                Ok(rpc::Outcome::Completed) => Outcome::Completed,
                Ok(rpc::Outcome::ClientCancelled) => Outcome::ClientCancelled,
                Ok(rpc::Outcome::Rejected) => Outcome::Rejected,
                _ => Outcome::Failed,
            };
            return (usage_of(u), outcome, u.reported_by_provider);
        }
        if recorded.gateway_refused && self.progress.output_tokens == 0 {
            return (Usage::default(), Outcome::Failed, false);
        }
        let input = if self.progress.input_tokens > 0 {
            self.progress.input_tokens
        } else {
            self.prompt_estimate
        };
        let usage = Usage {
            input_tokens: input,
            output_tokens: self.progress.output_tokens,
            units: self.units_estimate,
            ..Usage::default()
        };
        let outcome = if recorded.client_gone {
            Outcome::ClientCancelled
        } else {
            Outcome::Failed
        };
        (usage, outcome, false)
    }
}

fn usage_of(u: &rpc::Usage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cached_input_tokens: u.cached_input_tokens,
        cache_write_tokens: u.cache_write_tokens,
        reasoning_tokens: u.reasoning_tokens,
        units: tollgate_domain::Units::from_wire(&u.billed_unit, u.billed_units),
    }
}

fn status_class(s: u16) -> &'static str {
    match s {
        200..=299 => "2xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "other",
    }
}
