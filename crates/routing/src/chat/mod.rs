//! One `ChatCall`, start to end; the file to read first. [`handle`] takes the steps in order:
//!
//! 1. resolve the model the client named (through the route table's model directory), and
//!    check the caller may use it;
//! 2. read the body as routing needs it (`prepare.rs`: preferences, router fields stripped,
//!    the prompt measured when a decision depends on it);
//! 3. walk the chain of models (`fallback.rs`: the one asked for, the client's `models`, the
//!    configured fallbacks), trying each model's deployments in turn (`retry.rs`, one attempt
//!    each in `crate::attempt`), retrying only while nothing reached the client and within the
//!    retry budget;
//! 4. always finish with exactly one `Usage` frame unless the edge went away: the relay sends it
//!    for an answer, [`finish_failed`] for a refusal or a final failure.

mod fallback;
mod prepare;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, FailureKind};
use tracing::{Span, field, instrument};

use crate::attempt::Failed;
use crate::call::{Out, Run, Shared};
use crate::failure::{self, Class};
use crate::relay;
use crate::route_table::Model;
use crate::select::Request;
use fallback::{Follow, Link, chain};
use retry::Stop;

#[instrument(skip_all, fields(request_id = %call.request_id, model = %call.model, strategy = field::Empty, deployment = field::Empty, served_model = field::Empty, attempts = field::Empty))]
pub(crate) async fn handle(shared: Arc<Shared>, call: ChatCall, out: Out) {
    // The table of the directory the edge admitted the model with (see `tables.rs`).
    let table = shared.table.for_directory(call.directory).await;
    let limit = match call.deadline_ms {
        0 => table.policy.request_timeout,
        ms => Duration::from_millis(ms),
    };
    let deadline = Instant::now() + limit;

    let Some(model) = table.get(&call.model).cloned() else {
        let f = refuse(failure::unknown_model(&call.model));
        return finish_failed(&out, &call.model, f).await;
    };
    if !table.allows(allowed(&call), &model) {
        let f = refuse(failure::not_allowed(&call.model));
        return finish_failed(&out, &model.name, f).await;
    }
    if let Some(e) = crate::mode::endpoint(call.format())
        && !model.deployments.iter().any(|d| d.serves(e))
    {
        let f = refuse(failure::unsupported_endpoint(&call.model, e));
        return finish_failed(&out, &model.name, f).await;
    }
    let body = match prepare::read(&table, &call) {
        Ok(body) => body,
        Err(e) => {
            let f = refuse(failure::failure(FailureKind::InvalidRequest, e.to_string()));
            return finish_failed(&out, &model.name, f).await;
        }
    };
    let links = chain(&table, &model, &body.prefs, allowed(&call));
    let mut run = Run {
        shared: &shared,
        table: &table,
        call: &call,
        out: &out,
        body: &body.bytes,
        prompt: &body.prompt,
        req: Request::new(
            &body.prefs,
            body.prompt.get().copied().unwrap_or(0),
            body.max_tokens,
        )
        .for_endpoint(crate::mode::endpoint(call.format())),
        deadline,
        attempts: 0,
    };
    match run.walk(&links, &model).await {
        Ok(tail) => {
            // Close the frame stream first, so the edge is not kept waiting for the drain.
            drop(out);
            if let Some(resp) = tail {
                relay::drain(resp).await;
            }
        }
        Err(f) => {
            Span::current().record("attempts", run.attempts);
            finish_failed(&out, &model.name, f).await;
        }
    }
}

/// The models the caller may use (empty: every one).
fn allowed(call: &ChatCall) -> &[String] {
    call.policy
        .as_ref()
        .map_or(&[][..], |p| p.allowed_models.as_slice())
}

impl Run<'_> {
    /// Try each model of the chain in turn until one serves the call (`Ok`, with a response
    /// tail to drain); `Err` is the failure to report.
    async fn walk(
        &mut self,
        links: &[Link],
        model: &Model,
    ) -> Result<Option<reqwest::Response>, Failed> {
        let mut last: Option<Failed> = None;
        for (k, link) in links.iter().enumerate() {
            if let Some(prev) = &last {
                match fallback::follows(prev, link) {
                    Follow::Stop => break,
                    Follow::Skip => continue,
                    Follow::Take => fallback::record(&model.name, &link.model.name, prev),
                }
            }
            // The client's own name for the model it asked for; a fallback shows its public
            // name.
            let shown = if k == 0 {
                self.call.model.as_str()
            } else {
                link.model.name.as_str()
            };
            match self.model(&link.model, shown).await {
                Ok(tail) => return Ok(tail),
                Err(Stop::Failed(f)) => last = Some(f),
                Err(Stop::Spent) => break,
            }
        }
        Err(last.unwrap_or_else(|| Failed::new(failure::unreachable(), Class::ServerError, None)))
    }
}

/// A failure that is the request's own (the same answer would come from anywhere).
fn refuse(f: rpc::Failure) -> Failed {
    Failed::new(f, Class::Request, None)
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
