//! Keeping what the edge loads from Postgres fresh (the key snapshot, the price catalog): listen
//! first, then load, so no change between the two is missed; reload on every notification
//! (after a short pause that folds a burst into one load) and at least every poll; reconnect
//! with backoff when Postgres goes away. One loop for every such cache.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tollgate_store::changes::Changes;

/// Runs until `stop`. `reload` returns whether it loaded; `poll` is the longest wait between
/// loads without a notification (asked again after each load).
pub(crate) async fn keep_fresh<R, F>(
    pool: PgPool,
    channel: &'static str,
    what: &'static str,
    mut reload: R,
    poll: impl Fn() -> Duration,
    stop: CancellationToken,
) where
    R: FnMut() -> F,
    F: Future<Output = bool>,
{
    let mut backoff = Duration::from_millis(200);
    while !stop.is_cancelled() {
        let listener = Changes::listen(&pool, channel).await;
        let loaded = reload().await;
        let mut listener = match listener {
            Ok(l) if loaded => {
                backoff = Duration::from_millis(200);
                l
            }
            Ok(_) | Err(_) => {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                r = listener.recv() => match r {
                    Ok(()) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        reload().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, what, "change listener lost; reconnecting");
                        break;
                    }
                },
                () = tokio::time::sleep(poll()) => {
                    reload().await;
                }
            }
        }
    }
}
