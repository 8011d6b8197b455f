//! The `billing.v1.Billing` gRPC surface: one span per RPC, then the feature modules.

use std::sync::Arc;

use tollgate_proto::billing::v1 as pb;
use tonic::{Request, Response, Status};
use tracing::field::Empty;

use crate::{State, admin, budgets, generations, limits, usage, users};

pub(crate) struct BillingService {
    pub(crate) state: Arc<State>,
}

#[tonic::async_trait]
impl pb::billing_server::Billing for BillingService {
    #[tracing::instrument(skip_all, fields(events = req.get_ref().events.len(), inserted = Empty, duplicates = Empty))]
    async fn record_usage(
        &self,
        req: Request<pb::RecordUsageRequest>,
    ) -> Result<Response<pb::RecordUsageResponse>, Status> {
        let traces: Vec<(String, String)> = req
            .get_ref()
            .events
            .iter()
            .filter(|e| !e.traceparent.is_empty())
            .map(|e| (e.request_id.clone(), e.traceparent.clone()))
            .collect();
        let resp = usage::record(&self.state, req.into_inner()).await?;
        // Committed: mark it in each request's own trace (the batch has a trace of its own).
        for (request_id, tp) in traces {
            let s = tracing::info_span!("usage.committed", request_id = %request_id);
            tollgate_telemetry::propagation::set_parent_from_traceparent(&s, &tp);
            drop(s.entered());
        }
        let span = tracing::Span::current();
        span.record("inserted", resp.inserted);
        span.record("duplicates", resp.duplicates);
        Ok(Response::new(resp))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, group_by = req.get_ref().group_by))]
    async fn get_spend(
        &self,
        req: Request<pb::GetSpendRequest>,
    ) -> Result<Response<pb::GetSpendResponse>, Status> {
        Ok(Response::new(
            usage::spend(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, request_id = %req.get_ref().request_id))]
    async fn get_generation(
        &self,
        req: Request<pb::GetGenerationRequest>,
    ) -> Result<Response<pb::Generation>, Status> {
        Ok(Response::new(
            generations::get(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn list_usage(
        &self,
        req: Request<pb::ListUsageRequest>,
    ) -> Result<Response<pb::ListUsageResponse>, Status> {
        Ok(Response::new(
            generations::list(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, scope = %req.get_ref().scope))]
    async fn create_budget(
        &self,
        req: Request<pb::CreateBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        Ok(Response::new(
            budgets::create(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn list_budgets(
        &self,
        req: Request<pb::ListBudgetsRequest>,
    ) -> Result<Response<pb::ListBudgetsResponse>, Status> {
        Ok(Response::new(
            budgets::list(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn delete_budget(
        &self,
        req: Request<pb::DeleteBudgetRequest>,
    ) -> Result<Response<pb::Budget>, Status> {
        Ok(Response::new(
            budgets::delete(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn create_user(
        &self,
        req: Request<pb::CreateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        Ok(Response::new(
            users::create(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn list_users(
        &self,
        req: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        Ok(Response::new(
            users::list(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, user_id = %req.get_ref().user_id))]
    async fn get_user(
        &self,
        req: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        Ok(Response::new(
            users::get(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, user_id = %req.get_ref().user_id))]
    async fn disable_user(
        &self,
        req: Request<pb::DisableUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        Ok(Response::new(
            users::disable(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, scope = %req.get_ref().scope))]
    async fn set_limit(
        &self,
        req: Request<pb::SetLimitRequest>,
    ) -> Result<Response<pb::Limit>, Status> {
        Ok(Response::new(
            limits::set(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn list_limits(
        &self,
        req: Request<pb::ListLimitsRequest>,
    ) -> Result<Response<pb::ListLimitsResponse>, Status> {
        Ok(Response::new(
            limits::list(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, limit_id = %req.get_ref().limit_id))]
    async fn delete_limit(
        &self,
        req: Request<pb::DeleteLimitRequest>,
    ) -> Result<Response<pb::Limit>, Status> {
        Ok(Response::new(
            limits::delete(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = Empty))]
    async fn create_tenant(
        &self,
        req: Request<pb::CreateTenantRequest>,
    ) -> Result<Response<pb::Tenant>, Status> {
        let t = admin::create_tenant(&self.state, req.into_inner()).await?;
        tracing::Span::current().record("tenant_id", t.id.as_str());
        Ok(Response::new(t))
    }

    #[tracing::instrument(skip_all)]
    async fn list_tenants(
        &self,
        _req: Request<pb::ListTenantsRequest>,
    ) -> Result<Response<pb::ListTenantsResponse>, Status> {
        Ok(Response::new(admin::list_tenants(&self.state).await?))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn create_team(
        &self,
        req: Request<pb::CreateTeamRequest>,
    ) -> Result<Response<pb::Team>, Status> {
        Ok(Response::new(
            admin::create_team(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, team_id = %req.get_ref().team_id))]
    async fn create_key(
        &self,
        req: Request<pb::CreateKeyRequest>,
    ) -> Result<Response<pb::CreatedKey>, Status> {
        Ok(Response::new(
            admin::create_key(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id))]
    async fn list_keys(
        &self,
        req: Request<pb::ListKeysRequest>,
    ) -> Result<Response<pb::ListKeysResponse>, Status> {
        Ok(Response::new(
            admin::list_keys(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, key_id = %req.get_ref().key_id))]
    async fn revoke_key(
        &self,
        req: Request<pb::RevokeKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        Ok(Response::new(
            admin::revoke_key(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, key_id = %req.get_ref().key_id))]
    async fn get_key(
        &self,
        req: Request<pb::GetKeyRequest>,
    ) -> Result<Response<pb::ApiKey>, Status> {
        Ok(Response::new(
            admin::get_key(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(tenant_id = %req.get_ref().tenant_id, key_id = %req.get_ref().key_id))]
    async fn rotate_key(
        &self,
        req: Request<pb::RotateKeyRequest>,
    ) -> Result<Response<pb::RotatedKey>, Status> {
        Ok(Response::new(
            admin::rotate_key(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(model = %req.get_ref().model, deployment = %req.get_ref().deployment))]
    async fn set_price(
        &self,
        req: Request<pb::SetPriceRequest>,
    ) -> Result<Response<pb::PriceVersion>, Status> {
        Ok(Response::new(
            crate::price_admin::set(&self.state, req.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn list_prices(
        &self,
        req: Request<pb::ListPricesRequest>,
    ) -> Result<Response<pb::ListPricesResponse>, Status> {
        Ok(Response::new(
            crate::price_admin::list(&self.state, req.into_inner()).await?,
        ))
    }
}
