//! Usage for calls whose edge vanished: the ledger's backstop when an edge is killed.
//!
//! The edge sends every request's usage event and spools it to disk first, so a crash of the
//! edge loses only what it had not yet written: calls still streaming when it died (it never
//! settles them) and calls it settled in the last moment before (still in its memory). Routing
//! knows both: it sent every frame. So each call leaves a [`Receipt`] here when it ends (what
//! routing knows of its usage), kept for `routing.backstop_window` per edge connection. When a
//! connection closes, which is what a killed process does to its sockets, the receipts of that
//! connection's recent calls, and of its calls still running, go to billing through the same
//! spooled sender the edge uses. Billing's ledger is idempotent on `request_id`: for every call
//! the edge did record, routing's copy is a counted duplicate and changes nothing.
//!
//! A connection can also close while its edge lives: an edge shutting down (it drains and flushes
//! its usage before it disconnects), or a network cut between the two. Then the edge's own event
//! must be the one billed (it is what the client was told), so routing waits
//! `routing.backstop_grace` before sending anything: long enough for a living edge's event to
//! reach the ledger first, which makes routing's copy a counted duplicate. A call its edge cancelled (the
//! client hung up) is billed by the edge; if the edge then died before spooling it, routing's
//! copy bills the prompt plus what routing had sent, which is what the edge would have billed
//! give or take the frames in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tollgate_domain::Outcome;
use tollgate_proto::billing::v1::UsageEvent;
use tollgate_proto::routing::v1::chat_frame::Kind;
use tollgate_proto::routing::v1::{self as rpc, ChatCall, FailureKind, WireFormat};
use tollgate_server::connections::{ConnId, ConnectionWatch};
use tollgate_telemetry::propagation::TraceRef;
use tollgate_usage::UsageSink;

/// The status a client sees when it hung up (nginx's convention, as the edge records it).
const CLIENT_CLOSED: u32 = 499;

/// What one call's frames said about its usage so far.
pub(crate) struct Receipt {
    event: UsageEvent,
    started: Instant,
    /// The call's trace, rendered into the event only when it is built.
    trace: TraceRef,
    /// Kept to estimate the prompt only when no frame said it (a call cut before any output).
    body: Bytes,
    format: WireFormat,
    /// The final Usage frame was sent (or offered: the edge may have gone just then).
    settled: bool,
    /// Tokens in the last Progress frame: (input, output).
    progress: Option<(u64, u64)>,
}

impl Receipt {
    pub(crate) fn new(call: &ChatCall) -> Receipt {
        let id = call.identity.clone().unwrap_or_default();
        Receipt {
            event: UsageEvent {
                request_id: call.request_id.clone(),
                tenant_id: id.tenant_id,
                team_id: id.team_id,
                key_id: id.key_id,
                user_id: id.user_id,
                model: call.model.clone(),
                stream: call.stream,
                started_at: Some(prost_types::Timestamp::from(SystemTime::now())),
                ..UsageEvent::default()
            },
            trace: TraceRef::current(),
            started: Instant::now(),
            body: call.body.clone(),
            format: call.format(),
            settled: false,
            progress: None,
        }
    }

    /// Note what a frame says, before it is sent.
    pub(crate) fn note(&mut self, kind: &Kind) {
        match kind {
            Kind::Start(s) => {
                self.event.http_status = s.status;
                self.event.deployment.clone_from(&s.deployment);
                self.event.provider.clone_from(&s.provider);
                self.event.model.clone_from(&s.model);
            }
            Kind::Progress(p) => self.progress = Some((p.input_tokens, p.output_tokens)),
            Kind::Failure(f) => self.event.http_status = failure_status(f),
            Kind::Usage(u) => {
                let ev = &mut self.event;
                ev.input_tokens = u.input_tokens;
                ev.output_tokens = u.output_tokens;
                ev.cached_input_tokens = u.cached_input_tokens;
                ev.cache_write_tokens = u.cache_write_tokens;
                ev.reasoning_tokens = u.reasoning_tokens;
                ev.deployment.clone_from(&u.deployment);
                ev.provider.clone_from(&u.provider);
                if !u.model.is_empty() {
                    ev.model.clone_from(&u.model);
                }
                ev.outcome = outcome(u.outcome).as_str().to_owned();
                ev.reported_by_provider = u.reported_by_provider;
                ev.billed_unit.clone_from(&u.billed_unit);
                ev.billed_units = u.billed_units;
                self.settled = true;
            }
            Kind::Data(_) => {}
        }
    }

    /// The usage event this call ends with. Unsettled means the edge went away first: billed as
    /// a hang-up, the prompt plus what was sent (DESIGN: never nothing).
    /// The event without its `traceparent` (rendered only for an event that is sent), and the
    /// trace.
    fn into_event(mut self) -> (UsageEvent, TraceRef) {
        self.event.latency_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(0);
        if !self.settled {
            let (input, output) = self
                .progress
                .unwrap_or_else(|| (crate::prompt::tokens(&self.body, self.format), 0));
            self.event.input_tokens = input;
            self.event.output_tokens = output;
            self.event.http_status = CLIENT_CLOSED;
            self.event.outcome = Outcome::ClientCancelled.as_str().to_owned();
        }
        (self.event, self.trace)
    }
}

fn outcome(raw: i32) -> Outcome {
    match rpc::Outcome::try_from(raw) {
        Ok(rpc::Outcome::Completed) => Outcome::Completed,
        Ok(rpc::Outcome::ClientCancelled) => Outcome::ClientCancelled,
        Ok(rpc::Outcome::Rejected) => Outcome::Rejected,
        _ => Outcome::Failed,
    }
}

/// The status the edge answers a failure with (its error table), for the ledger row only: a
/// backstopped failure costs nothing either way.
fn failure_status(f: &rpc::Failure) -> u32 {
    match FailureKind::try_from(f.kind).unwrap_or(FailureKind::Unspecified) {
        FailureKind::UnknownModel => 404,
        FailureKind::ModelNotAllowed => 403,
        FailureKind::InvalidRequest
        | FailureKind::ContextLengthExceeded
        | FailureKind::UnsupportedEndpoint => 400,
        FailureKind::UpstreamRateLimited => 429,
        FailureKind::UpstreamTimeout => 504,
        FailureKind::UpstreamUnavailable => 503,
        FailureKind::UpstreamError | FailureKind::Unspecified => 502,
    }
}

/// A finished call's usage event and its trace.
type Ended = (UsageEvent, TraceRef);

/// The receipts of recent calls, per edge connection, and where they go when one closes.
pub(crate) struct Backstop {
    window: Duration,
    /// How long after a connection closed its receipts wait before going to billing.
    grace: Duration,
    /// Routing itself is shutting down: the connections closing are its own doing, and their
    /// edges live on and bill their calls.
    stopping: AtomicBool,
    state: Mutex<State>,
    sink: UsageSink,
}

#[derive(Default)]
struct State {
    /// Calls ended within the window, per open connection, oldest first.
    recent: HashMap<ConnId, VecDeque<(Instant, Ended)>>,
    /// Connections closed within the window: a call of theirs ending now was still running when
    /// its edge went, so it goes to billing at once.
    closed: HashMap<ConnId, Instant>,
}

impl Backstop {
    pub(crate) fn new(window: Duration, grace: Duration, sink: UsageSink) -> Backstop {
        Backstop {
            window,
            grace,
            stopping: AtomicBool::new(false),
            state: Mutex::new(State::default()),
            sink,
        }
    }

    /// From now on closing connections are routing's own shutdown, not vanished edges.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// A call on `conn` ended with `receipt`.
    pub(crate) fn ended(&self, conn: ConnId, receipt: Receipt) {
        let now = Instant::now();
        let event = receipt.into_event();
        let orphan = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            if st.closed.contains_key(&conn) {
                Some(event)
            } else {
                let recent = st.recent.entry(conn).or_default();
                while recent
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > self.window)
                {
                    recent.pop_front();
                }
                recent.push_back((now, event));
                None
            }
        };
        if let Some(event) = orphan {
            self.bill(vec![event]);
        }
    }

    /// Hand `events` to the spooled sender after the grace period, off the caller's task (which
    /// may be a connection's drop).
    fn bill(&self, events: Vec<Ended>) {
        metrics::counter!("tollgate_routing_backstop_events_total").increment(events.len() as u64);
        let sink = self.sink.clone();
        // A connection can close while the runtime itself shuts down; then there is no sender
        // left to hand anything to.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let grace = self.grace;
        rt.spawn(async move {
            tokio::time::sleep(grace).await;
            for (mut ev, trace) in events {
                ev.traceparent = trace.traceparent();
                sink.record(ev).await;
            }
        });
    }
}

impl ConnectionWatch for Backstop {
    fn closed(&self, conn: ConnId) {
        if self.stopping.load(Ordering::Relaxed) {
            if let Ok(mut st) = self.state.lock() {
                st.recent.remove(&conn);
            }
            return;
        }
        let now = Instant::now();
        let events: Vec<Ended> = {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let window = self.window;
            st.closed.retain(|_, at| now.duration_since(*at) <= window);
            st.closed.insert(conn, now);
            st.recent
                .remove(&conn)
                .into_iter()
                .flatten()
                .filter(|(at, _)| now.duration_since(*at) <= window)
                .map(|(_, ev)| ev)
                .collect()
        };
        if !events.is_empty() {
            tracing::info!(
                calls = events.len(),
                "an edge connection closed: its recent calls' usage goes to billing too, in case \
                 the edge died before recording it (duplicates are ignored)"
            );
            self.bill(events);
        }
    }
}
