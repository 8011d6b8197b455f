//! Stored Responses API answers: the tenant's content policy decides whether one is kept at all
//! (a stored response is the conversation's content), ids are scoped by tenant, and each is
//! kept for `logging.responses_retention`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tollgate_proto::logging::v1 as pb;
use tollgate_store::{PgPool, responses, tenants};
use uuid::Uuid;

use crate::LoggingError;

fn invalid(field: &'static str, message: &'static str) -> LoggingError {
    LoggingError::InvalidArgument { field, message }
}

fn tenant(id: &str) -> Result<Uuid, LoggingError> {
    Uuid::parse_str(id).map_err(|_| invalid("tenant_id", "is not a UUID"))
}

pub(crate) async fn put(
    pool: &PgPool,
    r: pb::StoredResponse,
    retention: Duration,
) -> Result<(), LoggingError> {
    let tenant_id = tenant(&r.tenant_id)?;
    if r.id.is_empty() {
        return Err(invalid("id", "is required"));
    }
    let request_id =
        Uuid::parse_str(&r.request_id).map_err(|_| invalid("request_id", "is not a UUID"))?;
    let json = |field, b: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(b).map_err(|_| invalid(field, "is not JSON"))
    };
    let response = json("response", &r.response)?;
    let input_items = json("input_items", &r.input_items)?;
    if !tenants::with_content_logging(pool, &[tenant_id])
        .await?
        .contains(&tenant_id)
    {
        metrics::counter!("tollgate_logging_responses_refused_total").increment(1);
        return Err(LoggingError::ContentNotAllowed);
    }
    let created_at = DateTime::<Utc>::from_timestamp(r.created_at, 0).unwrap_or_else(Utc::now);
    let expires_at =
        Utc::now() + chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(30));
    responses::put(
        pool,
        &responses::StoredResponse {
            tenant_id,
            id: r.id,
            request_id,
            created_at,
            expires_at,
            model: r.model,
            response,
            input_items,
        },
    )
    .await?;
    metrics::counter!("tollgate_logging_responses_stored_total").increment(1);
    Ok(())
}

pub(crate) async fn get(
    pool: &PgPool,
    tenant_id: &str,
    id: &str,
) -> Result<Option<pb::StoredResponse>, LoggingError> {
    let Some(r) = responses::get(pool, tenant(tenant_id)?, id).await? else {
        return Ok(None);
    };
    Ok(Some(pb::StoredResponse {
        tenant_id: r.tenant_id.to_string(),
        id: r.id,
        request_id: r.request_id.to_string(),
        created_at: r.created_at.timestamp(),
        model: r.model,
        response: r.response.to_string().into_bytes().into(),
        input_items: r.input_items.to_string().into_bytes().into(),
    }))
}

pub(crate) async fn delete(pool: &PgPool, tenant_id: &str, id: &str) -> Result<bool, LoggingError> {
    Ok(responses::delete(pool, tenant(tenant_id)?, id).await?)
}
