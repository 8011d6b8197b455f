//! Usage events to billing: at-least-once, batched, retried, with a bounded durable spool.
//!
//! Every settled request hands its event to `UsageSink::record` (off the hot path, in a tracked
//! task). One sender task appends events to an append-only spool file (length-prefixed protobuf)
//! before sending them in batches; events leave the spool only after billing acknowledged the
//! commit. If billing is down the spool grows up to `spool_max_events`, past which admission
//! answers 503 rather than serve requests it could not bill. On start, whatever the spool still
//! holds is sent again; billing's `ON CONFLICT (request_id) DO NOTHING` makes that harmless.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tollgate_config::UsageSpoolConfig;
use tollgate_proto::billing::v1::billing_client::BillingClient;
use tollgate_proto::billing::v1::{RecordUsageRequest, UsageEvent};

use crate::clients::Traced;

const SPOOL_FILE: &str = "usage.spool";
/// How long shutdown keeps trying to deliver what is still pending, in all.
const SHUTDOWN_FLUSH: Duration = Duration::from_secs(5);
/// Where a rewrite of the spool is written before it is renamed over [`SPOOL_FILE`].
const SPOOL_TMP_FILE: &str = "usage.spool.tmp";

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

struct Spool {
    path: PathBuf,
    file: tokio::fs::File,
    /// Records in the file, acknowledged or not.
    records_in_file: usize,
}

impl Spool {
    async fn open(dir: &Path) -> Result<(Spool, VecDeque<UsageEvent>), SpoolError> {
        let path = dir.join(SPOOL_FILE);
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
        let existing = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        // A temp file left by a crash mid-rewrite is never read: until the rename the spool file
        // itself is the complete old version. The rewrite below overwrites the temp file.
        let pending = decode_all(&existing);
        let all: Vec<&UsageEvent> = pending.iter().collect();
        // Rewrite only complete records, dropping a torn tail from a crash mid-write.
        let file = replace_file(dir, &path, &encode_all(&path, &all)?).await?;
        let spool = Spool {
            file,
            path,
            records_in_file: pending.len(),
        };
        Ok((spool, pending))
    }

    async fn append(&mut self, events: &[&UsageEvent]) -> Result<(), SpoolError> {
        if events.is_empty() {
            return Ok(());
        }
        let buf = encode_all(&self.path, events)?;
        let path = self.path.clone();
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        self.file.write_all(&buf).await.map_err(io)?;
        self.file.sync_data().await.map_err(io)?;
        self.records_in_file += events.len();
        Ok(())
    }

    /// Everything in the file is acknowledged (or rewritten as `pending`). Replaced atomically
    /// like at open, so a crash here leaves the old file or the new one, never a truncated one.
    async fn rewrite(&mut self, pending: &VecDeque<UsageEvent>) -> Result<(), SpoolError> {
        let all: Vec<&UsageEvent> = pending.iter().collect();
        let bytes = encode_all(&self.path, &all)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        self.file = replace_file(dir, &self.path, &bytes).await?;
        self.records_in_file = all.len();
        Ok(())
    }
}

/// Length-prefixed protobuf records, the spool's format.
fn encode_all(path: &Path, events: &[&UsageEvent]) -> Result<Vec<u8>, SpoolError> {
    let mut buf = Vec::with_capacity(events.len() * 160);
    for ev in events {
        let len = ev.encoded_len() as u32;
        buf.extend_from_slice(&len.to_le_bytes());
        ev.encode(&mut buf).map_err(|e| SpoolError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(e),
        })?;
    }
    Ok(buf)
}

/// Replaces `path` with `bytes` crash-safely (temp file in the same directory, fsync, rename,
/// fsync the directory) and returns it opened for appending. Truncating in place would lose
/// every spooled event if the process died between the truncation and the rewrite.
async fn replace_file(
    dir: &Path,
    path: &Path,
    bytes: &[u8],
) -> Result<tokio::fs::File, SpoolError> {
    let tmp = dir.join(SPOOL_TMP_FILE);
    let at = |p: &Path| {
        let p = p.to_owned();
        move |source| SpoolError::Io { path: p, source }
    };
    let mut f = tokio::fs::File::create(&tmp).await.map_err(at(&tmp))?;
    f.write_all(bytes).await.map_err(at(&tmp))?;
    f.sync_all().await.map_err(at(&tmp))?;
    drop(f);
    tokio::fs::rename(&tmp, path).await.map_err(at(path))?;
    // The rename is durable only once the directory entry is.
    tokio::fs::File::open(dir)
        .await
        .map_err(at(dir))?
        .sync_all()
        .await
        .map_err(at(dir))?;
    tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await
        .map_err(at(path))
}

fn decode_all(mut bytes: &[u8]) -> VecDeque<UsageEvent> {
    let mut out = VecDeque::new();
    while bytes.len() >= 4 {
        let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if bytes.len() < 4 + len {
            break;
        }
        match UsageEvent::decode(&bytes[4..4 + len]) {
            Ok(ev) => out.push_back(ev),
            Err(_) => break,
        }
        bytes = &bytes[4 + len..];
    }
    out
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

struct Sender {
    rx: mpsc::Receiver<UsageEvent>,
    spool: Spool,
    pending: VecDeque<UsageEvent>,
    counter: Arc<AtomicUsize>,
    client: BillingClient<Traced>,
    batch: usize,
    interval: Duration,
    /// Deadline of one `RecordUsage` call.
    send_timeout: Duration,
}

impl Sender {
    async fn run(mut self, stop: CancellationToken) {
        let mut backoff = Duration::ZERO;
        let mut incoming = Vec::with_capacity(self.batch);
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
            self.accept(&mut incoming).await;
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
        while !self.pending.is_empty() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str) -> UsageEvent {
        UsageEvent {
            request_id: id.into(),
            input_tokens: 7,
            ..UsageEvent::default()
        }
    }

    #[tokio::test]
    async fn the_spool_survives_a_restart_and_drops_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, pending) = Spool::open(&dir).await.unwrap();
            assert!(pending.is_empty());
            spool.append(&[&ev("a"), &ev("b")]).await.unwrap();
        }
        // A crash mid-write leaves half a record.
        let path = dir.join(SPOOL_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2]);
        std::fs::write(&path, bytes).unwrap();

        let (_spool, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        let (mut spool, pending) = Spool::open(&dir).await.unwrap();
        assert_eq!(pending.len(), 2, "reopening keeps the records");
        spool.rewrite(&VecDeque::new()).await.unwrap();
        let (_s, pending) = Spool::open(&dir).await.unwrap();
        assert!(pending.is_empty(), "acknowledged records are gone");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A crash between writing the rewrite and renaming it leaves a temp file next to the
    /// complete old spool: the next start recovers every event from the spool.
    #[tokio::test]
    async fn a_rewrite_cut_before_its_rename_loses_nothing() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, _) = Spool::open(&dir).await.unwrap();
            spool.append(&[&ev("a"), &ev("b"), &ev("c")]).await.unwrap();
        }
        // The crashed rewrite got half of its records out.
        let torn = encode_all(&dir, &[&ev("a")]).unwrap();
        std::fs::write(dir.join(SPOOL_TMP_FILE), &torn[..torn.len() - 2]).unwrap();
        let (_spool, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert!(
            !dir.join(SPOOL_TMP_FILE).exists(),
            "the temp file was renamed"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Open rewrites the spool by replacing it, never by truncating the file in place: whatever
    /// still refers to the old file (here a hard link, in real life the disk after a crash
    /// mid-rewrite) keeps every byte of it until the new one is complete.
    #[tokio::test]
    async fn open_replaces_the_spool_instead_of_truncating_it() {
        let dir = std::env::temp_dir().join(format!("tg-spool-{}", uuid::Uuid::now_v7()));
        {
            let (mut spool, _) = Spool::open(&dir).await.unwrap();
            spool.append(&[&ev("a"), &ev("b")]).await.unwrap();
        }
        let path = dir.join(SPOOL_FILE);
        let mut old = std::fs::read(&path).unwrap();
        old.extend_from_slice(&[40, 0, 0, 0, 1, 2]); // a torn tail, so the rewrite differs
        std::fs::write(&path, &old).unwrap();
        let keep = dir.join("old-inode");
        std::fs::hard_link(&path, &keep).unwrap();

        let (mut spool, pending) = Spool::open(&dir).await.unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(
            std::fs::read(&keep).unwrap(),
            old,
            "the old file was modified in place"
        );
        spool.rewrite(&VecDeque::new()).await.unwrap();
        assert_eq!(
            std::fs::read(&keep).unwrap(),
            old,
            "the old file was modified in place"
        );
        // Appends after a rewrite land in the new file.
        spool.append(&[&ev("d")]).await.unwrap();
        let (_s, pending) = Spool::open(&dir).await.unwrap();
        let ids: Vec<_> = pending.iter().map(|e| e.request_id.as_str()).collect();
        assert_eq!(ids, ["d"]);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
