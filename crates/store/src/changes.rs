//! Subscriptions to change notifications (Postgres `LISTEN`): the keys snapshot
//! ([`crate::keys::CHANNEL`]) and the price catalog ([`crate::prices::CHANNEL`]). Holds one of
//! the pool's connections for as long as it lives.
//!
//! Every `recv` means "reload": either a change was notified, or the listening connection was
//! lost and re-established, in which case notifications may have been missed.
//!
//! [`keep_fresh`] is the one loop every Postgres-backed cache runs (the edge's key snapshot and
//! price catalog, billing's price catalog): listen first, then load, so no change between the
//! two is missed.

use std::future::Future;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::StoreError;

pub struct Changes(PgListener);

impl Changes {
    pub async fn listen(pool: &PgPool, channel: &str) -> Result<Self, StoreError> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(channel).await?;
        Ok(Changes(listener))
    }

    /// Wait for the next reason to reload. Returns an error only when Postgres cannot be
    /// reached; calling again retries the connection.
    pub async fn recv(&mut self) -> Result<(), StoreError> {
        // `None`: the connection dropped; it reconnects (and re-LISTENs) on the next call.
        // Anything may have changed meanwhile, so that too is a reason to reload.
        self.0.try_recv().await?;
        // Coalesce a burst (a bulk revoke, a price list) into one reload.
        while self.0.next_buffered().is_some() {}
        Ok(())
    }
}

/// Keep a cache loaded from Postgres fresh until `stop`: listen on `channel` first, then load,
/// so no change between the two is missed; reload on every notification (after a short pause
/// that folds a burst into one load) and at least every `poll()` (asked again after each
/// load); reconnect with backoff when Postgres goes away. `reload` returns whether it loaded;
/// `what` names the cache in logs.
pub async fn keep_fresh<R, F>(
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
