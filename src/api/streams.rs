//! `GET /v1/streams`: what is live now, among the service's channels the caller may see.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::error::{ApiError, ApiResult};
use crate::api::live::LiveStream;
use crate::db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_streams))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveChannel {
    pub channel_id: Uuid,
    pub tenant: String,
    pub name: String,
    #[serde(flatten)]
    pub stream: LiveStream,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveChannels {
    pub items: Vec<LiveChannel>,
    /// When IVS was asked (answers are reused for a few seconds).
    pub checked_at: DateTime<Utc>,
}

/// List the channels that are live now.
///
/// From IVS's ListStreams, cached for a few seconds; a tenant-bound API key sees only its
/// tenant's channels.
#[utoipa::path(
    get, path = "/v1/streams", tag = "channels",
    security(("bearer" = [])),
    responses((status = 200, description = "Live channels", body = LiveChannels))
)]
async fn list_streams(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<LiveChannels>> {
    caller.require(Scope::ChannelsRead)?;
    let (checked_at, live) = state
        .live
        .live_streams(&state.aws)
        .await
        .map_err(|e| ApiError::Unavailable(format!("IVS could not list live streams: {e}")))?;
    let arns: Vec<String> = live.iter().map(|s| s.channel_arn.clone()).collect();
    let owners = db::channels::live_by_arns(&state.pool, &arns).await?;
    let items = live
        .into_iter()
        .filter_map(|stream| {
            let owner = owners
                .iter()
                .find(|o| o.channel_arn == stream.channel_arn)?;
            caller.can_see(&owner.tenant).then(|| LiveChannel {
                channel_id: owner.id,
                tenant: owner.tenant.clone(),
                name: owner.name.clone(),
                stream,
            })
        })
        .collect();
    Ok(Json(LiveChannels { items, checked_at }))
}
