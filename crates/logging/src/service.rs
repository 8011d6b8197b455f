//! The `logging.v1.Logging` gRPC surface.

use std::collections::HashSet;

use tollgate_proto::logging::v1 as pb;
use tollgate_store::logs::{self, LogQuery};
use tollgate_store::{PgPool, tenants};
use tonic::{Request, Response, Status};
use tracing::field::Empty;
use uuid::Uuid;

use crate::LoggingError;
use crate::records::{to_record, to_row, wants_content};

pub(crate) struct LoggingService {
    pub(crate) pool: PgPool,
    /// How long stored responses are kept.
    pub(crate) responses_retention: std::time::Duration,
}

impl LoggingService {
    async fn write(&self, req: pb::WriteLogsRequest) -> Result<u32, LoggingError> {
        // Check the tenants' current setting only when some record carries content.
        let asking: Vec<Uuid> = req
            .records
            .iter()
            .filter(|r| wants_content(r))
            .filter_map(|r| Uuid::parse_str(&r.tenant_id).ok())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let allowed = tenants::with_content_logging(&self.pool, &asking)
            .await
            .map_err(LoggingError::Write)?;
        let rows: Vec<_> = req
            .records
            .iter()
            .filter_map(|r| to_row(r, &allowed))
            .collect();
        let rejected = req.records.len() - rows.len();
        if rejected > 0 {
            metrics::counter!("tollgate_logging_rejected_total").increment(rejected as u64);
            tracing::warn!(
                rejected,
                "log records without a valid request or tenant id dropped"
            );
        }
        let written = logs::write(&self.pool, &rows)
            .await
            .map_err(LoggingError::Write)?;
        metrics::counter!("tollgate_logging_written_total").increment(u64::from(written));
        Ok(written)
    }

    async fn query(
        &self,
        req: pb::QueryLogsRequest,
    ) -> Result<pb::QueryLogsResponse, LoggingError> {
        let invalid = |field, message| LoggingError::InvalidArgument { field, message };
        if req.tenant_id.is_empty() {
            return Err(invalid("tenant_id", "is required"));
        }
        let tenant_id =
            Uuid::parse_str(&req.tenant_id).map_err(|_| invalid("tenant_id", "is not a UUID"))?;
        let request_id = match req.request_id.as_str() {
            "" => None,
            s => Some(Uuid::parse_str(s).map_err(|_| invalid("request_id", "is not a UUID"))?),
        };
        let time = |field, t: Option<&tollgate_proto::Timestamp>| match t {
            None => Ok(None),
            Some(t) => u32::try_from(t.nanos)
                .ok()
                .and_then(|n| chrono::DateTime::from_timestamp(t.seconds, n))
                .map(Some)
                .ok_or(invalid(field, "is not a valid timestamp")),
        };
        let q = LogQuery {
            tenant_id,
            key_id: (!req.key_id.is_empty()).then(|| req.key_id.clone()),
            request_id,
            from: time("from", req.from.as_ref())?,
            to: time("to", req.to.as_ref())?,
            limit: req.limit,
        };
        let rows = logs::query(&self.pool, &q).await?;
        Ok(pb::QueryLogsResponse {
            records: rows.into_iter().map(to_record).collect(),
        })
    }
}

#[tonic::async_trait]
impl pb::logging_server::Logging for LoggingService {
    #[tracing::instrument(skip_all, fields(tenant_id = Empty, id = Empty))]
    async fn put_response(
        &self,
        req: Request<pb::PutResponseRequest>,
    ) -> Result<Response<pb::PutResponseResponse>, Status> {
        let r = req.into_inner().response.unwrap_or_default();
        let span = tracing::Span::current();
        span.record("tenant_id", r.tenant_id.as_str());
        span.record("id", r.id.as_str());
        crate::stored::put(&self.pool, r, self.responses_retention).await?;
        Ok(Response::new(pb::PutResponseResponse {}))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, id = %req.get_ref().id))]
    async fn get_response(
        &self,
        req: Request<pb::GetResponseRequest>,
    ) -> Result<Response<pb::GetResponseResponse>, Status> {
        let req = req.into_inner();
        let response = crate::stored::get(&self.pool, &req.tenant_id, &req.id).await?;
        Ok(Response::new(pb::GetResponseResponse { response }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, id = %req.get_ref().id))]
    async fn delete_response(
        &self,
        req: Request<pb::DeleteResponseRequest>,
    ) -> Result<Response<pb::DeleteResponseResponse>, Status> {
        let req = req.into_inner();
        let deleted = crate::stored::delete(&self.pool, &req.tenant_id, &req.id).await?;
        Ok(Response::new(pb::DeleteResponseResponse { deleted }))
    }

    #[tracing::instrument(skip_all, fields(records = req.get_ref().records.len(), written = Empty))]
    async fn write_logs(
        &self,
        req: Request<pb::WriteLogsRequest>,
    ) -> Result<Response<pb::WriteLogsResponse>, Status> {
        let traces: Vec<(String, String)> = req
            .get_ref()
            .records
            .iter()
            .filter(|r| !r.traceparent.is_empty())
            .map(|r| (r.request_id.clone(), r.traceparent.clone()))
            .collect();
        let written = self.write(req.into_inner()).await?;
        // Stored: mark it in each request's own trace (the batch has a trace of its own).
        for (request_id, tp) in traces {
            let s = tracing::info_span!("log.stored", request_id = %request_id);
            tollgate_telemetry::propagation::set_parent_from_traceparent(&s, &tp);
            drop(s.entered());
        }
        tracing::Span::current().record("written", written);
        Ok(Response::new(pb::WriteLogsResponse { written }))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, returned = Empty))]
    async fn query_logs(
        &self,
        req: Request<pb::QueryLogsRequest>,
    ) -> Result<Response<pb::QueryLogsResponse>, Status> {
        let resp = self.query(req.into_inner()).await?;
        tracing::Span::current().record("returned", resp.records.len());
        Ok(Response::new(resp))
    }
}
