//! Usage events to billing: at-least-once, batched, retried, with a bounded durable spool.
//!
//! The edge sends every request's event this way; routing sends, the same way, the events of
//! calls whose edge vanished before it could (`tollgate_routing::backstop`).
//!
//! Every settled request hands its event to `UsageSink::record` (off the hot path, in a tracked
//! task). One sender task appends events to an append-only spool file (length-prefixed protobuf)
//! before sending them in batches; events leave the spool only after billing acknowledged the
//! commit. If billing is down the spool grows up to `spool_max_events`, past which admission
//! answers 503 rather than serve requests it could not bill. On start, whatever the spool still
//! holds is sent again; billing's `ON CONFLICT (request_id) DO NOTHING` makes that harmless.

mod sender;
mod spool;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tollgate_config::UsageSpoolConfig;
use tollgate_proto::billing::v1::UsageEvent;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_server::outbound::Traced;

use sender::Sender;
use spool::Spool;

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("usage spool at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The handle requests use. Cheap to clone.
#[derive(Clone)]
pub struct UsageSink {
    tx: mpsc::Sender<UsageEvent>,
    /// Events not yet acknowledged by billing (queued + spooled).
    pending: Arc<AtomicUsize>,
    high_water: usize,
}

impl UsageSink {
    /// True when no more requests should be admitted: their usage could not be kept.
    pub fn is_full(&self) -> bool {
        self.pending.load(Ordering::Relaxed) >= self.high_water
    }

    /// Queue one event. Waits (never drops) if the sender is momentarily behind.
    pub async fn record(&self, ev: UsageEvent) {
        self.pending.fetch_add(1, Ordering::Relaxed);
        if self.tx.send(ev).await.is_err() {
            // Only after shutdown closed the sender; the event is lost, so say so loudly.
            self.pending.fetch_sub(1, Ordering::Relaxed);
            metrics::counter!("tollgate_usage_events_lost_total").increment(1);
            tracing::error!("usage event arrived after the usage sender stopped");
        }
    }
}

/// Open the spool and start the sender. Returns the sink and the sender's future.
pub async fn start(
    cfg: &UsageSpoolConfig,
    client: BillingClient<Traced>,
    stop: CancellationToken,
) -> Result<(UsageSink, impl Future<Output = ()> + Send + 'static), SpoolError> {
    let (spool, pending) = Spool::open(&cfg.spool_dir).await?;
    if !pending.is_empty() {
        tracing::info!(events = pending.len(), "resending spooled usage events");
    }
    let counter = Arc::new(AtomicUsize::new(pending.len()));
    let (tx, rx) = mpsc::channel(cfg.batch_size.max(1) * 64);
    let sink = UsageSink {
        tx,
        pending: counter.clone(),
        high_water: cfg.spool_max_events.max(1),
    };
    let sender = Sender {
        rx,
        spool,
        pending,
        counter,
        client,
        batch: cfg.batch_size.max(1),
        interval: cfg.flush_interval,
        send_timeout: cfg.send_timeout,
    };
    Ok((sink, sender.run(stop)))
}
