//! Stored Responses API answers at the edge: what `store` (OpenAI's default) and
//! `previous_response_id` need, and `GET`/`DELETE /v1/responses/{id}`.
//!
//! The logging service owns them (they are content, under the tenant's content policy; kept for
//! `logging.responses_retention`). The hot path reads through Redis: a stored response is
//! written to Redis (for [`CACHE_TTL`]) and to logging once the answer has gone out, and a
//! continuation looks in Redis first, asking logging only on a miss (an older conversation).
//!
//! A continuation is resolved here, before admission, by splicing the stored conversation into
//! the body (`splice.rs`): routing and the provider see one whole conversation, so every provider
//! kind continues it (and the token estimate is right), and a native Responses deployment never
//! sees an id it did not issue.
//!
//! Tenants that do not allow content logging store nothing: their answers still say what the
//! client asked (`store: true`), a later `GET` finds nothing, and `previous_response_id` is
//! refused with a clear 400.

mod keep;
mod splice;

use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use tollgate_proto::logging::v1 as pb;
use tollgate_proto::logging::v1::logging_client::LoggingClient;
use tollgate_server::outbound::Traced;

use crate::error::ApiError;

/// The logging client as the edge holds it (traced, authenticated).
type LoggingClientT = LoggingClient<Traced>;

pub(crate) use keep::{Keep, Keeping};
pub(crate) use splice::{continue_from, conversation};

/// How long a stored response stays in Redis for continuations (the conversation's busy
/// phase); after that, logging answers.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// The deadline of one lookup (Redis or logging) on the request path.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// A stored response as the edge uses it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Stored {
    pub response: serde_json::Value,
    pub input_items: serde_json::Value,
}

/// The store: Redis in front of the logging service.
pub(crate) struct StoredResponses {
    redis: ConnectionManager,
    prefix: String,
    logging: LoggingClientT,
}

impl std::fmt::Debug for StoredResponses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredResponses")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl StoredResponses {
    /// Lazy: Redis being down at start does not stop the edge (lookups then ask logging).
    pub(crate) fn new(
        redis_url: &str,
        prefix: &str,
        logging: LoggingClientT,
    ) -> Result<StoredResponses, redis::RedisError> {
        let client = redis::Client::open(redis_url)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(LOOKUP_TIMEOUT))
            .set_connection_timeout(Some(LOOKUP_TIMEOUT))
            .set_number_of_retries(1);
        Ok(StoredResponses {
            redis: ConnectionManager::new_lazy_with_config(client, cfg)?,
            prefix: prefix.to_owned(),
            logging,
        })
    }

    /// Tenant-scoped (the tenant is the hash tag, as for the limits).
    fn key(&self, tenant: &str, id: &str) -> String {
        format!("{}:{{t:{tenant}}}:resp:{id}", self.prefix)
    }

    /// The tenant's response `id`: Redis first, then logging (and Redis again for next time).
    pub(crate) async fn fetch(&self, tenant: &str, id: &str) -> Result<Option<Stored>, ApiError> {
        let key = self.key(tenant, id);
        let mut redis = self.redis.clone();
        if let Ok(Ok(Some(json))) =
            tokio::time::timeout(LOOKUP_TIMEOUT, redis.get::<_, Option<String>>(&key)).await
            && let Ok(stored) = serde_json::from_str::<Stored>(&json)
        {
            metrics::counter!("tollgate_stored_responses_lookups_total", "from" => "redis")
                .increment(1);
            return Ok(Some(stored));
        }
        let mut req = tonic::Request::new(pb::GetResponseRequest {
            tenant_id: tenant.to_owned(),
            id: id.to_owned(),
        });
        req.set_timeout(LOOKUP_TIMEOUT);
        let found = self
            .logging
            .clone()
            .get_response(req)
            .await
            .map_err(|s| ApiError::from_status(&s))?
            .into_inner()
            .response;
        metrics::counter!("tollgate_stored_responses_lookups_total", "from" => "logging")
            .increment(1);
        let Some(r) = found else { return Ok(None) };
        let stored = Stored {
            response: serde_json::from_slice(&r.response).unwrap_or_default(),
            input_items: serde_json::from_slice(&r.input_items).unwrap_or_default(),
        };
        self.cache(&key, &stored).await;
        Ok(Some(stored))
    }

    async fn cache(&self, key: &str, stored: &Stored) {
        let Ok(json) = serde_json::to_string(stored) else {
            return;
        };
        let mut redis = self.redis.clone();
        let ttl = CACHE_TTL.as_secs();
        let _ =
            tokio::time::timeout(LOOKUP_TIMEOUT, redis.set_ex::<_, _, ()>(key, json, ttl)).await;
    }

    /// Puts `r` in Redis, where the next turn looks first: done before the answer's last bytes
    /// go out, so a client continuing at once (on any edge) finds it.
    pub(crate) async fn cache_now(&self, r: &pb::StoredResponse) {
        let stored = Stored {
            response: serde_json::from_slice(&r.response).unwrap_or_default(),
            input_items: serde_json::from_slice(&r.input_items).unwrap_or_default(),
        };
        self.cache(&self.key(&r.tenant_id, &r.id), &stored).await;
    }

    /// Hands `r` to logging for the long run. Off the request path; failures are counted.
    pub(crate) async fn persist(&self, r: pb::StoredResponse) {
        let put = self
            .logging
            .clone()
            .put_response(pb::PutResponseRequest { response: Some(r) })
            .await;
        match put {
            Ok(_) => metrics::counter!("tollgate_stored_responses_total", "result" => "stored")
                .increment(1),
            Err(s) => {
                metrics::counter!("tollgate_stored_responses_total", "result" => "failed")
                    .increment(1);
                tracing::warn!(code = ?s.code(), "a response could not be stored by logging");
            }
        }
    }

    /// Deletes the tenant's response `id` everywhere; whether there was one.
    pub(crate) async fn delete(&self, tenant: &str, id: &str) -> Result<bool, ApiError> {
        let mut redis = self.redis.clone();
        let cached: bool = matches!(
            tokio::time::timeout(LOOKUP_TIMEOUT, redis.del::<_, i64>(self.key(tenant, id))).await,
            Ok(Ok(n)) if n > 0
        );
        let deleted = self
            .logging
            .clone()
            .delete_response(pb::DeleteResponseRequest {
                tenant_id: tenant.to_owned(),
                id: id.to_owned(),
            })
            .await
            .map_err(|s| ApiError::from_status(&s))?
            .into_inner()
            .deleted;
        Ok(deleted || cached)
    }
}
