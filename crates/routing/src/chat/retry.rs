//! Trying one model: its deployments in turn, as `select` picks them, one attempt each, within
//! `routing.max_attempts` and the replica's retry budget; going back to a deployment already
//! tried only when its failure allows it, after a jittered backoff.

use tokio::time::Instant;
use tollgate_config::RoutingStrategy;
use tracing::Span;

use super::fallback::blocked_failure;
use crate::attempt::{Attempt, Failed};
use crate::budget;
use crate::call::Run;
use crate::failure::{self, Class};
use crate::health::now_ms;
use crate::route_table::Model;
use crate::select;

/// How trying one model ended, when it did not serve the call.
pub(super) enum Stop {
    Failed(Failed),
    /// No retry budget left (or no time): give up with what we have.
    Spent,
}

impl Run<'_> {
    /// Try `model`'s deployments until one serves the call (`Ok`, with a response tail to
    /// drain, or `None` when the edge left), or the model is out of options.
    pub(super) async fn model(
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
        let mut tried: Vec<usize> = Vec::with_capacity(2);
        let mut last: Option<Failed> = None;
        let mut again = 0;
        for _ in 0..self.table.policy.max_attempts {
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
            if !self.budget_allows() {
                return Err(last.map_or(Stop::Spent, Stop::Failed));
            }
            if tried.contains(&i) {
                again += 1;
                if !self.back_off(again).await {
                    return Ok(None);
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

    /// The call's first attempt earns the budget a fraction of a retry; every later one spends
    /// a retry, and is not made when the budget is empty.
    fn budget_allows(&self) -> bool {
        let policy = &self.table.policy;
        if self.attempts == 0 {
            self.shared
                .budget
                .deposit(policy.budget_ratio, policy.budget_min);
        } else if !self.shared.budget.withdraw() {
            metrics::counter!("tollgate_routing_retry_budget_exhausted_total").increment(1);
            tracing::warn!("retry budget exhausted; not retrying");
            return false;
        }
        true
    }

    /// Wait before the `again`th return to a deployment already tried (never past the call's
    /// deadline); false when the edge went away meanwhile.
    async fn back_off(&self, again: u32) -> bool {
        let policy = &self.table.policy;
        let wait = budget::backoff(again, policy.backoff, policy.backoff_max, rand::random());
        let until = (Instant::now() + wait).min(self.deadline);
        tokio::select! {
            biased;
            () = self.out.closed() => false,
            () = tokio::time::sleep_until(until) => true,
        }
    }
}

fn strategy_label(s: RoutingStrategy) -> &'static str {
    match s {
        RoutingStrategy::Weighted => "weighted",
        RoutingStrategy::Priority => "priority",
        RoutingStrategy::LeastBusy => "least_busy",
        RoutingStrategy::Latency => "latency",
        RoutingStrategy::Cost => "cost",
    }
}
