//! Users of a tenant: created, listed, read and disabled here; keys are issued to them by
//! `CreateKey` with a `user_id`, and the edge limits and bills their requests under the user.

use tollgate_proto::billing::v1 as pb;
use tollgate_store::users::{self, NewUser, User};

use crate::convert::{opt_uuid, timestamp, uuid};
use crate::{BillingError, State};

/// Long enough for any IdP's subject or an e-mail address; short enough for a log line.
const MAX_IDENTITY: usize = 256;

fn user(u: User) -> pb::User {
    pb::User {
        id: u.id.to_string(),
        tenant_id: u.tenant_id.to_string(),
        team_id: u.team_id.map(|t| t.to_string()).unwrap_or_default(),
        external_id: u.external_id.unwrap_or_default(),
        email: u.email.unwrap_or_default(),
        name: u.name,
        created_at: Some(timestamp(u.created_at)),
        disabled_at: u.disabled_at.map(timestamp),
    }
}

fn identity<'a>(field: &str, s: &'a str) -> Result<Option<&'a str>, BillingError> {
    let s = s.trim();
    if s.chars().count() > MAX_IDENTITY {
        return Err(BillingError::invalid(
            field,
            format!("is longer than {MAX_IDENTITY} characters"),
        ));
    }
    Ok((!s.is_empty()).then_some(s))
}

pub(crate) async fn create(
    state: &State,
    req: pb::CreateUserRequest,
) -> Result<pb::User, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let team_id = opt_uuid("team_id", &req.team_id)?;
    let external_id = identity("external_id", &req.external_id)?;
    let email = identity("email", &req.email)?;
    if external_id.is_none() && email.is_none() {
        return Err(BillingError::invalid(
            "external_id",
            "give an external_id or an email",
        ));
    }
    if email.is_some_and(|e| !e.contains('@')) {
        return Err(BillingError::invalid("email", "is not an e-mail address"));
    }
    let u = users::create(
        &state.pool,
        &NewUser {
            tenant_id,
            team_id,
            external_id,
            email,
            name: req.name.trim(),
        },
    )
    .await?;
    tracing::info!(user_id = %u.id, %tenant_id, "user created");
    Ok(user(u))
}

pub(crate) async fn list(
    state: &State,
    req: pb::ListUsersRequest,
) -> Result<pb::ListUsersResponse, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let rows = users::list(&state.pool, tenant_id).await?;
    Ok(pb::ListUsersResponse {
        users: rows.into_iter().map(user).collect(),
    })
}

pub(crate) async fn get(state: &State, req: pb::GetUserRequest) -> Result<pb::User, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let id = uuid("user_id", &req.user_id)?;
    Ok(user(users::get(&state.pool, tenant_id, id).await?))
}

pub(crate) async fn disable(
    state: &State,
    req: pb::DisableUserRequest,
) -> Result<pb::User, BillingError> {
    let tenant_id = uuid("tenant_id", &req.tenant_id)?;
    let id = uuid("user_id", &req.user_id)?;
    let u = users::disable(&state.pool, tenant_id, id).await?;
    tracing::info!(user_id = %u.id, %tenant_id, "user disabled");
    Ok(user(u))
}
