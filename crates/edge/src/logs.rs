//! Request logs to the logging service: best effort, never blocking.
//!
//! A bounded queue; when it is full the record is dropped and counted
//! (`tollgate_log_records_dropped_total`). One task sends batches.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tollgate_config::LogQueueConfig;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_proto::logging::v1::{LogRecord, WriteLogsRequest};

use tollgate_server::outbound::Traced;

#[derive(Clone)]
pub struct LogSink {
    tx: Arc<mpsc::Sender<LogRecord>>,
}

impl LogSink {
    pub fn push(&self, rec: LogRecord) {
        if self.tx.try_send(rec).is_err() {
            metrics::counter!("tollgate_log_records_dropped_total").increment(1);
        }
    }
}

pub fn start(
    cfg: &LogQueueConfig,
    mut client: LoggingClient<Traced>,
    stop: CancellationToken,
) -> (LogSink, impl Future<Output = ()> + Send + 'static) {
    let (tx, mut rx) = mpsc::channel(cfg.queue_size.max(1));
    let batch = cfg.batch_size.max(1);
    let interval = cfg.flush_interval;
    let task = async move {
        let mut buf = Vec::with_capacity(batch);
        loop {
            let mut full = false;
            let stopping = tokio::select! {
                n = rx.recv_many(&mut buf, batch) => {
                    full = n >= batch;
                    n == 0
                }
                () = stop.cancelled() => true,
            };
            if stopping {
                rx.close();
                while let Some(r) = rx.recv().await {
                    buf.push(r);
                }
            }
            while !buf.is_empty() {
                let n = buf.len().min(batch);
                let records: Vec<LogRecord> = buf.drain(..n).collect();
                let count = records.len() as u64;
                let sent = tokio::time::timeout(
                    Duration::from_secs(5),
                    client.write_logs(WriteLogsRequest { records }),
                )
                .await;
                if !matches!(sent, Ok(Ok(_))) {
                    metrics::counter!("tollgate_log_records_dropped_total").increment(count);
                    tracing::warn!(
                        records = count,
                        "logging service did not take a batch; dropped"
                    );
                }
            }
            if stopping {
                break;
            }
            // Caught up: let the next batch build up rather than send one RPC per record. Behind
            // (a full batch came): go straight on, or the interval would cap throughput at
            // batch_size / flush_interval.
            if !full {
                tokio::time::sleep(interval).await;
            }
        }
    };
    (LogSink { tx: Arc::new(tx) }, task)
}
