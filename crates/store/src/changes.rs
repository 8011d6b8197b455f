//! Subscriptions to change notifications (Postgres `LISTEN`): the keys snapshot
//! ([`crate::keys::CHANNEL`]) and the price catalog ([`crate::prices::CHANNEL`]). Holds one of
//! the pool's connections for as long as it lives.
//!
//! Every `recv` means "reload": either a change was notified, or the listening connection was
//! lost and re-established, in which case notifications may have been missed.

use sqlx::PgPool;
use sqlx::postgres::PgListener;

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
