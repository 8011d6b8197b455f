//! `GET /v1/models`, in OpenAI's list shape, from routing's catalog.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tollgate_proto::routing::v1::ListModelsRequest;

use crate::error::ApiError;
use crate::state::AppState;

pub async fn list_models(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let resp = state
        .routing
        .clone()
        .list_models(ListModelsRequest {})
        .await
        .map_err(|s| ApiError::from_status(&s))?
        .into_inner();
    let data: Vec<Value> = resp
        .models
        .into_iter()
        .map(|m| json!({"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}))
        .collect();
    Ok(Json(json!({"object": "list", "data": data})))
}
