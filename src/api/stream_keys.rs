//! Stream-key custody: `GET /v1/channels/{id}/stream-key` hands a broadcaster the key, read from
//! IVS at the moment of the request (never stored in Postgres, never logged), and
//! `POST /v1/channels/{id}/stream-key/rotate` has the reconciler replace it in IVS and SSM.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::actions;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::api::channels::{Channel, action_error};
use crate::api::error::ApiResult;
use crate::api::extract::ChannelId;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_stream_key))
        .routes(routes!(rotate_stream_key))
}

/// What a broadcaster's encoder needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct StreamKey {
    /// The secret stream key. Treat it like a password.
    #[schema(example = "sk_us-east-1_abcdEFGH1234_ijklMNOP5678qrstUVWX")]
    pub stream_key: String,
    #[schema(example = "abcd1234.global-contribute.live-video.net")]
    pub ingest_endpoint: String,
    /// The RTMPS server URL to configure in the encoder (the stream key goes in its own field).
    #[schema(example = "rtmps://abcd1234.global-contribute.live-video.net:443/app/")]
    pub ingest_url: String,
}

/// Read a channel's stream key.
///
/// Read from IVS when asked; the service keeps no copy outside IVS and SSM.
#[utoipa::path(
    get, path = "/v1/channels/{id}/stream-key", tag = "stream keys",
    params(("id" = Uuid, Path, description = "Channel id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stream key", body = StreamKey),
        (status = 409, description = "The channel is not provisioned yet, its key is being replaced, or its live window is closed",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn get_stream_key(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
) -> ApiResult<Json<StreamKey>> {
    let key = actions::read_stream_key(&state.pool, &state.aws, &caller, id)
        .await
        .map_err(action_error(id))?;
    let ingest = key.ingest_endpoint;
    Ok(Json(StreamKey {
        stream_key: key.stream_key,
        ingest_url: format!("rtmps://{ingest}:443/app/"),
        ingest_endpoint: ingest,
    }))
}

/// Replace a channel's stream key.
///
/// The reconciler deletes the key in IVS, creates a new one and updates the SSM parameter; the
/// channel is `updating` until then and a `stream_key_rotated` event records it. The broadcaster
/// must use the new key for its next broadcast.
#[utoipa::path(
    post, path = "/v1/channels/{id}/stream-key/rotate", tag = "stream keys",
    params(("id" = Uuid, Path, description = "Channel id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Rotation recorded; the reconciler performs it", body = Channel),
        (status = 409, description = "The channel is not provisioned yet or is being deleted",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn rotate_stream_key(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    let row = actions::rotate_stream_key(&state.pool, &caller, id)
        .await
        .map_err(action_error(id))?;
    state.cache.forget_channel(&id);
    Ok((StatusCode::ACCEPTED, Json(Channel::from(row))))
}
