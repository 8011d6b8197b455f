//! The end of every admitted request: release the concurrency slot, settle the budget and
//! tokens-per-minute reservations to what was really used, emit exactly one usage event
//! and one log record. Runs in a tracked task so a client hanging up cannot cancel it, and is
//! triggered from `Drop` as a last resort, so no path forgets it.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use tollgate_domain::{Outcome, RequestId, Usage};
use tollgate_limits::Ticket;
use tollgate_proto::billing::v1::UsageEvent;
use tollgate_proto::logging::v1::LogRecord;
use tollgate_proto::routing::v1 as rpc;

use crate::snapshot::KeyEntry;
use crate::state::AppState;

/// Cap on a response body kept for content logging.
const MAX_LOGGED_RESPONSE: usize = 256 * 1024;

pub struct Settlement {
    state: AppState,
    ticket: Option<Ticket>,
    /// Budget room reserved mid-stream (see `overrun`); returned at settlement.
    extensions: Vec<Ticket>,
    pub caller: Arc<KeyEntry>,
    pub request_id: RequestId,
    pub model: String,
    pub stream: bool,
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
    pub http_status: u16,
    pub error_code: &'static str,
    request_body: Option<Bytes>,
    response_body: Option<Vec<u8>>,
    /// The request's trace, carried into billing's and logging's batches.
    traceparent: String,
    done: bool,
}

impl Settlement {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        state: AppState,
        ticket: Ticket,
        caller: Arc<KeyEntry>,
        request_id: RequestId,
        model: String,
        stream: bool,
        prompt_estimate: u64,
        body: &Bytes,
        started: Instant,
        started_at: SystemTime,
    ) -> Self {
        let log_content = caller.log_content;
        Settlement {
            state,
            ticket: Some(ticket),
            extensions: Vec::new(),
            caller,
            request_id,
            served_model: model.clone(),
            model,
            stream,
            started_at,
            started,
            ttfb_ms: 0,
            deployment: String::new(),
            provider: String::new(),
            progress: rpc::Progress::default(),
            final_usage: None,
            prompt_estimate,
            http_status: 200,
            error_code: "",
            request_body: log_content.then(|| body.clone()),
            response_body: log_content.then(Vec::new),
            traceparent: tollgate_telemetry::propagation::current_traceparent(),
            done: false,
        }
    }

    pub fn on_start(&mut self, s: &rpc::Start) {
        self.deployment.clone_from(&s.deployment);
        self.provider.clone_from(&s.provider);
        if !s.model.is_empty() {
            self.served_model.clone_from(&s.model);
        }
        self.http_status = u16::try_from(s.status).unwrap_or(200);
    }

    pub fn on_data(&mut self, b: &Bytes) {
        if self.ttfb_ms == 0 {
            self.ttfb_ms = self.started.elapsed().as_millis() as u64;
        }
        if let Some(buf) = self.response_body.as_mut()
            && buf.len() < MAX_LOGGED_RESPONSE
        {
            let room = MAX_LOGGED_RESPONSE - buf.len();
            buf.extend_from_slice(&b[..b.len().min(room)]);
        }
    }

    pub fn on_progress(&mut self, p: rpc::Progress) {
        self.progress = p;
    }

    pub fn on_usage(&mut self, u: rpc::Usage) {
        if self.deployment.is_empty() {
            self.deployment.clone_from(&u.deployment);
            self.provider.clone_from(&u.provider);
        }
        self.final_usage = Some(u);
    }

    /// Hold a mid-stream budget extension until settlement.
    pub fn add_extension(&mut self, t: Ticket) {
        self.extensions.push(t);
    }

    pub fn fail(&mut self, status: u16, code: &'static str) {
        self.http_status = status;
        self.error_code = code;
    }

    /// The cost of the provider-reported usage, once the final Usage frame arrived.
    pub fn reported_cost(&self) -> Option<tollgate_domain::Money> {
        let (usage, _, _) = self.final_numbers(false);
        self.final_usage.as_ref().map(|_| self.cost(&usage))
    }

    /// What `usage` costs at the price billing picks: the serving deployment's, effective when
    /// the request started.
    fn cost(&self, usage: &Usage) -> tollgate_domain::Money {
        self.state
            .prices
            .load()
            .cost(&self.served_model, &self.deployment, self.started_at, usage)
    }

    /// End the request: hand the side effects to a tracked task.
    pub fn finish(mut self, client_gone: bool) {
        self.done = true;
        let ticket = self.ticket.take();
        let extensions = std::mem::take(&mut self.extensions);
        let (usage, outcome, reported) = self.final_numbers(client_gone);
        let state = self.state.clone();
        let cost = self.cost(&usage);
        let total_tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        let latency_ms = self.started.elapsed().as_millis() as u64;
        let id = &self.caller.identity;
        let started_at = Some(prost_types::Timestamp::from(self.started_at));
        let ev = UsageEvent {
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
            http_status: u32::from(self.http_status),
            outcome: outcome.as_str().to_owned(),
            stream: self.stream,
            started_at,
            latency_ms,
            reported_by_provider: reported,
            traceparent: self.traceparent.clone(),
        };
        let log = LogRecord {
            request_id: ev.request_id.clone(),
            tenant_id: ev.tenant_id.clone(),
            team_id: ev.team_id.clone(),
            key_id: ev.key_id.clone(),
            model: ev.model.clone(),
            deployment: ev.deployment.clone(),
            provider: ev.provider.clone(),
            http_status: ev.http_status,
            error_code: self.error_code.to_owned(),
            started_at,
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
        };
        metrics::counter!(
            "tollgate_requests_total",
            "outcome" => outcome.as_str(),
            "status" => status_class(self.http_status),
        )
        .increment(1);
        metrics::histogram!("tollgate_request_duration_seconds")
            .record(self.started.elapsed().as_secs_f64());
        state.tracker.clone().spawn(async move {
            if let Some(t) = ticket {
                // The real cost replaces the budget reservation made at admission, and the
                // tokens really used replace the tokens-per-minute reservation.
                state
                    .limiter
                    .settle_usage(&t, Some(crate::budgets::nanos(cost)), Some(total_tokens))
                    .await;
            }
            // The real cost is all in the admission ticket's settlement: extensions go back.
            for t in &extensions {
                state.limiter.settle_usage(t, Some(0), None).await;
            }
            state.logs.push(log);
            state.usage.record(ev).await;
        });
    }

    /// Billed usage: the provider's numbers when it reported them; otherwise the prompt estimate
    /// plus what was delivered — never nothing.
    fn final_numbers(&self, client_gone: bool) -> (Usage, Outcome, bool) {
        if let Some(u) = &self.final_usage {
            let outcome = match rpc::Outcome::try_from(u.outcome) {
                Ok(rpc::Outcome::Completed) => Outcome::Completed,
                Ok(rpc::Outcome::ClientCancelled) => Outcome::ClientCancelled,
                Ok(rpc::Outcome::Rejected) => Outcome::Rejected,
                _ => Outcome::Failed,
            };
            let usage = Usage {
                input_tokens: u.input_tokens,
                output_tokens: u.output_tokens,
                cached_input_tokens: u.cached_input_tokens,
                cache_write_tokens: u.cache_write_tokens,
                reasoning_tokens: u.reasoning_tokens,
            };
            return (usage, outcome, u.reported_by_provider);
        }
        let input = if self.progress.input_tokens > 0 {
            self.progress.input_tokens
        } else {
            self.prompt_estimate
        };
        let usage = Usage {
            input_tokens: input,
            output_tokens: self.progress.output_tokens,
            ..Usage::default()
        };
        let outcome = if client_gone {
            Outcome::ClientCancelled
        } else {
            Outcome::Failed
        };
        (usage, outcome, false)
    }
}

impl Drop for Settlement {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // A path that forgot to settle (or a client that vanished): settle as cancelled.
        let placeholder = Settlement {
            state: self.state.clone(),
            ticket: self.ticket.take(),
            extensions: std::mem::take(&mut self.extensions),
            caller: self.caller.clone(),
            request_id: self.request_id,
            model: std::mem::take(&mut self.model),
            stream: self.stream,
            started_at: self.started_at,
            started: self.started,
            ttfb_ms: self.ttfb_ms,
            deployment: std::mem::take(&mut self.deployment),
            provider: std::mem::take(&mut self.provider),
            served_model: std::mem::take(&mut self.served_model),
            progress: self.progress,
            final_usage: self.final_usage.take(),
            prompt_estimate: self.prompt_estimate,
            http_status: if self.http_status == 200 {
                499
            } else {
                self.http_status
            },
            error_code: if self.error_code.is_empty() {
                "client_closed_request"
            } else {
                self.error_code
            },
            request_body: self.request_body.take(),
            response_body: self.response_body.take(),
            traceparent: std::mem::take(&mut self.traceparent),
            done: false,
        };
        placeholder.finish(true);
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
