//! The types every step of a call shares, and nothing else: what all calls share ([`Shared`]),
//! the frame stream back to the edge ([`Out`], and [`Gone`] once the edge left), one call across
//! its attempts ([`Run`]), and one attempt as the relay sees it ([`Call`]).
//!
//! A leaf of the request path: `chat` (which directs a call), `attempt` and `relay` all read
//! these; this module calls none of them.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tollgate_domain::Usage;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, ChatFrame};
use tollgate_server::connections::ConnId;
use tonic::Status;

use crate::backstop::{Backstop, Receipt};
use crate::budget::RetryBudget;
use crate::mode::Mode;
use crate::route_table::{Clients, Deployment, RouteTable};
use crate::select::Request;
use crate::tables::Tables;

/// What every call shares; the route table is swapped whole on reload (calls in flight keep
/// theirs).
pub(crate) struct Shared {
    pub table: Tables,
    pub clients: Clients,
    pub budget: RetryBudget,
    /// Where calls leave their receipts (set once serving; absent in unit tests).
    pub backstop: OnceLock<Arc<Backstop>>,
}

/// The edge went away: nothing more can be sent.
#[derive(Debug)]
pub(crate) struct Gone;

/// The sending half of the frame stream. When the call ends (`Out` is dropped), what its frames
/// said goes to the [`Backstop`], in case the edge vanishes before it records the usage itself.
pub(crate) struct Out {
    tx: mpsc::Sender<Result<ChatFrame, Status>>,
    trail: Option<Trail>,
}

/// A call's receipt and where it is left.
struct Trail {
    receipt: Mutex<Receipt>,
    backstop: Arc<Backstop>,
    conn: ConnId,
}

impl Out {
    pub(crate) fn new(tx: mpsc::Sender<Result<ChatFrame, Status>>) -> Self {
        Out { tx, trail: None }
    }

    /// An `Out` for `call`, which arrived on `conn`, leaving its receipt with `backstop`.
    pub(crate) fn tracked(
        tx: mpsc::Sender<Result<ChatFrame, Status>>,
        call: &ChatCall,
        backstop: Arc<Backstop>,
        conn: ConnId,
    ) -> Self {
        Out {
            tx,
            trail: Some(Trail {
                receipt: Mutex::new(Receipt::new(call)),
                backstop,
                conn,
            }),
        }
    }

    pub(crate) async fn send(&self, kind: Kind) -> Result<(), Gone> {
        if let Some(trail) = &self.trail
            && !matches!(kind, Kind::Data(_))
            && let Ok(mut receipt) = trail.receipt.lock()
        {
            receipt.note(&kind);
        }
        self.tx
            .send(Ok(ChatFrame { kind: Some(kind) }))
            .await
            .map_err(|_| Gone)
    }

    /// End the stream with an error after frames went out: how a cut shows in an answer whose
    /// bytes cannot carry an error event (audio). The edge ends its client's body in error.
    pub(crate) async fn abort(&self, status: Status) {
        let _ = self.tx.send(Err(status)).await;
    }

    /// Resolves when the edge dropped the stream (client hung up or edge cancelled).
    pub(crate) async fn closed(&self) {
        self.tx.closed().await
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        if let Some(trail) = self.trail.take()
            && let Ok(receipt) = trail.receipt.into_inner()
        {
            trail.backstop.ended(trail.conn, receipt);
        }
    }
}

/// State of one call across its attempts.
pub(crate) struct Run<'a> {
    pub shared: &'a Shared,
    pub table: &'a RouteTable,
    pub call: &'a ChatCall,
    pub out: &'a Out,
    /// The client's body without router-only fields.
    pub body: &'a [u8],
    pub prompt: &'a OnceLock<u64>,
    pub req: Request<'a>,
    pub deadline: Instant,
    pub attempts: u32,
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
    /// The provider's own id for this call, once its answer's headers came.
    pub upstream_id: Option<String>,
}

impl Call<'_> {
    /// Prompt tokens estimated from the request, for when the provider does not say; measured
    /// at most once per call, and only when needed.
    pub(crate) fn prompt_estimate(&self) -> u64 {
        *self
            .prompt
            .get_or_init(|| crate::prompt::tokens(self.body, self.call.format()))
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
            billed_unit: usage
                .units
                .map(|u| u.unit.as_str().to_owned())
                .unwrap_or_default(),
            billed_units: usage.units.map_or(0, |u| u.count),
        })
    }
}

/// The edge dropped the stream: stop here; dropping the response closes the upstream request.
pub(crate) fn cancelled(cx: &Call<'_>) {
    metrics::counter!("tollgate_routing_cancelled_total", "provider" => cx.deployment.provider.name.clone())
        .increment(1);
    tracing::info!("the edge cancelled the call; upstream request dropped");
}
