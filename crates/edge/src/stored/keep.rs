//! Keeping one answer: the final Response (the whole body, or the `response` of a stream's
//! `response.completed` / `response.incomplete` event, cost included) with the conversation's
//! input items. It goes to Redis before the answer's last bytes leave (one `SET`), so a client
//! that continues at once finds it, and to logging afterwards. A failed or cut answer is not
//! kept.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use tokio_util::task::TaskTracker;
use tollgate_proto::logging::v1 as pb;

use super::StoredResponses;

/// What to keep for one request that asked to be stored.
pub(crate) struct Keep {
    pub store: Arc<StoredResponses>,
    pub tracker: TaskTracker,
    pub tenant_id: String,
    pub request_id: String,
    /// Every input item of the conversation up to this turn.
    pub conversation: Value,
}

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keep")
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl Keep {
    /// A non-streamed answer: the body is the Response.
    pub(crate) async fn whole(self, body: &[u8]) {
        if let Ok(response) = serde_json::from_slice::<Value>(body)
            && let Some(keeping) = self.response(response)
        {
            keeping.await;
        }
    }

    /// Stream bytes that may hold the final event: the keeping of its Response if they do, to
    /// be awaited before the bytes go out.
    pub(crate) fn streamed(self, bytes: &[u8]) -> Option<Keeping> {
        let text = std::str::from_utf8(bytes).ok()?;
        let finals = text
            .split("\n\n")
            .filter_map(|event| event.lines().find_map(|l| l.strip_prefix("data: ")))
            .filter_map(|data| serde_json::from_str::<Value>(data).ok())
            .filter(|v| {
                matches!(
                    v.get("type").and_then(Value::as_str),
                    Some("response.completed" | "response.incomplete")
                )
            })
            .filter_map(|mut v| v.get_mut("response").map(Value::take))
            .last();
        finals.and_then(|response| self.response(response))
    }

    fn response(self, response: Value) -> Option<Keeping> {
        let done = matches!(
            response.get("status").and_then(Value::as_str),
            Some("completed" | "incomplete")
        );
        let id = response.get("id").and_then(Value::as_str)?.to_owned();
        if !done {
            return None;
        }
        let stored = pb::StoredResponse {
            tenant_id: self.tenant_id,
            id,
            request_id: self.request_id,
            created_at: response
                .get("created_at")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            model: response
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            response: response.to_string().into_bytes().into(),
            input_items: self.conversation.to_string().into_bytes().into(),
        };
        let (store, tracker) = (self.store, self.tracker);
        Some(Box::pin(async move {
            store.cache_now(&stored).await;
            tracker.spawn(async move { store.persist(stored).await });
        }))
    }
}

/// Storing one answer: Redis now, logging in the background.
pub(crate) type Keeping = Pin<Box<dyn Future<Output = ()> + Send>>;
