//! The one task that spools and sends: gathers events, appends them to the spool, sends them in
//! batches with a deadline per call, backs off while billing is away, and flushes (bounded) at
//! shutdown.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_proto::billing::v1::{RecordUsageRequest, UsageEvent};
use tollgate_server::outbound::Traced;

use crate::spool::Spool;

/// How long shutdown keeps trying to deliver what is still pending, in all.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);

pub(crate) struct Sender {
    pub(crate) rx: mpsc::Receiver<UsageEvent>,
    pub(crate) spool: Spool,
    pub(crate) pending: VecDeque<UsageEvent>,
    pub(crate) counter: Arc<AtomicUsize>,
    pub(crate) client: BillingClient<Traced>,
    pub(crate) batch: usize,
    pub(crate) interval: Duration,
    /// Deadline of one `RecordUsage` call.
    pub(crate) send_timeout: Duration,
}

impl Sender {
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Duration::ZERO;
        let mut incoming = Vec::with_capacity(self.batch);
        let mut last_sent: Option<Instant> = None;
        loop {
            // Gather what arrived, waiting at most one interval (or the backoff) for more.
            let wait = self.interval.max(backoff);
            tokio::select! {
                biased;
                n = self.rx.recv_many(&mut incoming, self.batch * 8) => {
                    if n == 0 { break; } // every sink dropped: shutdown
                }
                () = tokio::time::sleep(wait), if !self.pending.is_empty() || backoff > Duration::ZERO => {}
                () = stop.cancelled() => break,
            }
            if backoff.is_zero()
                && let Some(at) = last_sent
                && !self.pace(&mut incoming, at + self.interval, &stop).await
            {
                break;
            }
            self.accept(&mut incoming).await;
            last_sent = Some(Instant::now());
            // Shutdown does not wait out a slow call: its bounded final flush takes over.
            let flushed = tokio::select! {
                ok = self.flush_once() => ok,
                () = stop.cancelled() => false,
            };
            if flushed {
                backoff = Duration::ZERO;
            } else {
                backoff = (backoff * 2).clamp(Duration::from_millis(100), Duration::from_secs(5));
            }
        }
        // Shutdown: take everything still queued, then try to deliver for a short while.
        self.rx.close();
        while let Some(ev) = self.rx.recv().await {
            incoming.push(ev);
        }
        self.accept(&mut incoming).await;
        // The whole final flush is bounded, not just each call: shutdown must return even if
        // billing hangs. Cutting a call short is safe: unacknowledged events stay spooled, and
        // the spool is only ever replaced atomically.
        let deadline = tokio::time::Instant::now() + SHUTDOWN_FLUSH;
        let flushed = tokio::time::timeout_at(deadline, async {
            while !self.pending.is_empty() {
                if !self.flush_once().await {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        })
        .await;
        if flushed.is_err() || !self.pending.is_empty() {
            tracing::warn!(
                events = self.pending.len(),
                "billing unreachable at shutdown; usage events stay in the spool for the next start"
            );
        }
    }

    /// Lets a batch build up until `until` (one interval after the last send) or until a batch is
    /// full. Sending as soon as anything arrived cost every request of a light load its own
    /// `RecordUsage` call, billing transaction, spool append and crash-safe spool rewrite (two
    /// fsyncs); paced, those happen at most once per interval whatever the traffic, and the
    /// first event after a quiet spell still goes at once. Waiting unspooled is safe: an edge
    /// killed meanwhile has its calls billed by routing's backstop, whose window is far longer
    /// than an interval and a send deadline together. False when shutdown began (what was
    /// gathered stays in `incoming` for the final flush).
    async fn pace(
        &mut self,
        incoming: &mut Vec<UsageEvent>,
        until: Instant,
        stop: &CancellationToken,
    ) -> bool {
        while self.pending.len() + incoming.len() < self.batch {
            tokio::select! {
                biased;
                () = stop.cancelled() => return false,
                () = tokio::time::sleep_until(until) => return true,
                n = self.rx.recv_many(incoming, self.batch * 8) => {
                    // Every sink dropped: send what there is; the next receive ends the loop.
                    if n == 0 { return true; }
                }
            }
        }
        true
    }

    async fn accept(&mut self, incoming: &mut Vec<UsageEvent>) {
        if incoming.is_empty() {
            return;
        }
        let refs: Vec<&UsageEvent> = incoming.iter().collect();
        if let Err(e) = self.spool.append(&refs).await {
            // The events stay in memory and are still delivered; only crash-safety is lost.
            metrics::counter!("tollgate_usage_spool_errors_total").increment(1);
            tracing::error!(error = %e, "could not write the usage spool");
        }
        self.pending.extend(incoming.drain(..));
        metrics::gauge!("tollgate_usage_pending").set(self.pending.len() as f64);
    }

    /// Send every pending batch; false if billing refused or was unreachable.
    async fn flush_once(&mut self) -> bool {
        let mut arrived = Vec::new();
        while !self.pending.is_empty() {
            // What arrived during the last call is spooled before the next one: an event waits
            // unspooled (lost if the process is killed) at most one call, never the whole
            // backlog. Routing's backstop window is sized on that.
            while let Ok(ev) = self.rx.try_recv() {
                arrived.push(ev);
            }
            self.accept(&mut arrived).await;
            let n = self.pending.len().min(self.batch);
            let events: Vec<UsageEvent> = self.pending.iter().take(n).cloned().collect();
            let mut request = tonic::Request::new(RecordUsageRequest { events });
            // Tells billing too, so it can give up on a call nobody waits for any more.
            request.set_timeout(self.send_timeout);
            let sent = tokio::time::timeout(self.send_timeout, self.client.record_usage(request));
            let Ok(result) = sent.await else {
                // Billing may still commit the batch: resending it later is harmless (it is
                // idempotent by request_id), forgetting it is not.
                metrics::counter!("tollgate_usage_send_errors_total").increment(1);
                tracing::warn!(
                    timeout = ?self.send_timeout,
                    pending = self.pending.len(),
                    "billing did not answer in time; usage stays spooled, will retry"
                );
                return false;
            };
            match result {
                Ok(resp) => {
                    let r = resp.into_inner();
                    metrics::counter!("tollgate_usage_events_sent_total").increment(n as u64);
                    if r.duplicates > 0 {
                        metrics::counter!("tollgate_usage_events_duplicate_total")
                            .increment(u64::from(r.duplicates));
                    }
                    self.pending.drain(..n);
                    self.counter.fetch_sub(n, Ordering::Relaxed);
                }
                Err(status) => {
                    metrics::counter!("tollgate_usage_send_errors_total").increment(1);
                    tracing::warn!(code = ?status.code(), pending = self.pending.len(), "billing did not take usage; will retry");
                    return false;
                }
            }
        }
        metrics::gauge!("tollgate_usage_pending").set(0.0);
        // All acknowledged: the spool can start over.
        if self.spool.records_in_file > 0
            && let Err(e) = self.spool.rewrite(&self.pending).await
        {
            tracing::error!(error = %e, "could not truncate the usage spool");
        }
        true
    }
}
