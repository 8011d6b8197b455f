//! A stream that outruns its budget reservation.
//!
//! Admission reserved the request's estimate (prompt + `max_tokens` at the model's price) in
//! every budget covering the caller. For a stream, the edge turns that reservation into a
//! number of output tokens once, when the stream starts; each Progress frame from routing is
//! then one integer comparison. Only when the delivered tokens pass that number does the edge
//! go to Redis (rare): it reserves one more estimate's worth in the same budgets, all or none,
//! through the admission script. If a budget has no room for it, the stream is ended with an
//! explicit `budget_exceeded` error event in the client's format (`relay::Cut`) and billed for what was
//! delivered (`edge.limits.stream_overrun = "end"`, the default; `"allow"` never checks).
//!
//! Extensions are returned at settlement (their tickets settle at 0), so the budget counter
//! ends at exactly the real cost, as for any request.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tollgate_domain::{Money, Usage};
use tollgate_limits::{AdmitRequest, Decision, LimitKind, Ticket};
use tollgate_proto::routing::v1 as rpc;

use crate::budgets;
use crate::request::ModelCall;
use crate::snapshot::KeyEntry;
use crate::state::AppState;

/// What an extension attempt came to.
pub enum Extended {
    /// More room reserved (this ticket holds it until settlement).
    Yes(Ticket),
    /// The budget has no room: end the stream.
    No,
    /// The shared counter is unreachable: keep going (a running stream is not cut for an
    /// outage) and try again at the next step.
    Unknown,
}

type Pending = Pin<Box<dyn Future<Output = Extended> + Send>>;

/// The watch on one stream's reservation.
pub struct Overrun {
    state: AppState,
    caller: Arc<KeyEntry>,
    request_id: String,
    /// One extension reserves this much (the admission estimate again).
    step: Money,
    /// Output tokens one `step` pays for.
    step_tokens: u64,
    /// Output tokens the reservations so far pay for.
    covered: u64,
    pending: Option<Pending>,
}

/// How many output tokens `amount` pays for once the fixed part of the request is paid.
fn tokens_for(amount: Money, fixed: Money, per_token: Money) -> u64 {
    if per_token.picos() <= 0 {
        return u64::MAX;
    }
    let room = amount.picos().saturating_sub(fixed.picos()).max(0);
    u64::try_from(room / per_token.picos()).unwrap_or(0)
}

impl Overrun {
    /// The watch for `call`'s stream, which reserved `reserved` at admission and is served by
    /// `deployment`; `None` when nothing needs watching (overruns allowed, no budget, or free
    /// output).
    pub fn start(
        state: &AppState,
        call: &ModelCall,
        ticket_holds_budget: bool,
        deployment: &str,
        reserved: Money,
    ) -> Option<Overrun> {
        if !ticket_holds_budget
            || state.limits.stream_overrun != tollgate_config::StreamOverrun::End
        {
            return None;
        }
        let (model, started_at) = (call.peek.model.as_str(), call.started_at);
        let prompt_estimate = call.peek.prompt_tokens_estimate;
        let prices = state.prices.load();
        let cost = |input_tokens, output_tokens| {
            let u = Usage {
                input_tokens,
                output_tokens,
                ..Usage::default()
            };
            prices.cost(model, deployment, started_at, &u)
        };
        let fixed = cost(prompt_estimate, 0);
        let per_token = Money::from_picos(cost(prompt_estimate, 1).picos() - fixed.picos());
        if per_token.picos() <= 0 {
            return None;
        }
        Some(Overrun {
            state: state.clone(),
            caller: call.caller.clone(),
            request_id: call.request_id.to_string(),
            step: reserved,
            step_tokens: tokens_for(reserved, Money::ZERO, per_token).max(1),
            covered: tokens_for(reserved, fixed, per_token),
            pending: None,
        })
    }

    /// A Progress frame: starts an extension when the delivered tokens pass the reservation.
    pub fn on_progress(&mut self, p: &rpc::Progress) {
        if p.output_tokens > self.covered && self.pending.is_none() {
            self.pending = Some(Box::pin(extend(
                self.state.clone(),
                self.caller.clone(),
                self.request_id.clone(),
                self.step,
            )));
        }
    }

    /// Drive an extension in flight: `Ready(None)` when none is (or it succeeded), `Ready(Some)`
    /// with a ticket to settle or the verdict to end.
    pub fn poll_pending(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Extended>> {
        let Some(fut) = self.pending.as_mut() else {
            return std::task::Poll::Ready(None);
        };
        let out = std::task::ready!(fut.as_mut().poll(cx));
        self.pending = None;
        if !matches!(out, Extended::No) {
            self.covered = self.covered.saturating_add(self.step_tokens);
        }
        std::task::Poll::Ready(Some(out))
    }
}

/// Reserve `extra` more in every budget covering the caller, all or none.
async fn extend(
    state: AppState,
    caller: Arc<KeyEntry>,
    request_id: String,
    extra: Money,
) -> Extended {
    let snapshot = state.keys.load_full();
    let covering: Vec<&budgets::BudgetEntry> = snapshot
        .as_ref()
        .map(|s| s.budgets.covering(&caller.identity).collect())
        .unwrap_or_default();
    let now = chrono::Utc::now();
    let checks: Vec<_> = covering
        .iter()
        .map(|b| budgets::check(b, extra, now))
        .collect();
    if checks.is_empty() {
        return Extended::Unknown;
    }
    let req = AdmitRequest {
        tenant_id: &caller.identity.tenant_id,
        request_id: &request_id,
        scopes: &[],
        budgets: &checks,
        tokens: 0,
    };
    metrics::counter!("tollgate_stream_budget_extensions_total").increment(1);
    match state.limiter.admit(&req).await {
        Decision::Admitted { ticket, .. } => Extended::Yes(ticket),
        Decision::Limited {
            kind: LimitKind::Budget,
            ..
        } => {
            metrics::counter!("tollgate_stream_budget_overruns_total").increment(1);
            Extended::No
        }
        _ => Extended::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_becomes_output_tokens_after_the_fixed_part() {
        let p = Money::from_picos;
        // $10 reserved, $4 of prompt, $1.5 per output token: 4 whole tokens.
        assert_eq!(tokens_for(p(10), p(4), Money::from_picos(1)), 6);
        assert_eq!(tokens_for(p(10_000), p(4_000), p(1_500)), 4);
        // A prompt alone over the reservation covers no output at all.
        assert_eq!(tokens_for(p(10), p(40), p(1)), 0);
        // Free output can never overrun.
        assert_eq!(tokens_for(p(10), p(4), p(0)), u64::MAX);
    }
}
