//! Stream-key custody: `GET /v1/channels/{id}/stream-key` hands a broadcaster the key, read from
//! IVS at the moment of the request (never stored in Postgres, never logged), and
//! `POST /v1/channels/{id}/stream-key/rotate` has the reconciler replace it in IVS and SSM.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::channels::{Channel, visible_channel};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::ChannelId;
use crate::db;
use crate::domain::EventKind;

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
    caller.require(Scope::StreamKeysRead)?;
    let channel = visible_channel(&state, &caller, id).await?;
    let phase = channel.phase;
    let outputs = &channel.outputs.0;
    let (Some(arn), Some(ingest), false) = (
        outputs.channel_arn.clone(),
        outputs.ingest_endpoint.clone(),
        phase.is_going(),
    ) else {
        return Err(ApiError::Conflict {
            detail: format!(
                "the channel has no stream key (phase: {}); it gets one when it is provisioned",
                phase.as_str()
            ),
            channel_id: Some(id),
        });
    };
    let window = channel.spec.0.live_window;
    let Some((_, stream_key)) = state.aws.find_stream_key(&arn).await? else {
        let detail = match window.filter(|w| !w.is_open_at(chrono::Utc::now())) {
            Some(w) => format!(
                "ingest is closed: the channel has a stream key only from its live window's \
                 opening ({}) until {} (closes_at plus grace)",
                w.opens_at.to_rfc3339(),
                w.ingest_closes_at().to_rfc3339()
            ),
            None => "the stream key is being replaced; try again in a few seconds".into(),
        };
        return Err(ApiError::Conflict {
            detail,
            channel_id: Some(id),
        });
    };
    Ok(Json(StreamKey {
        stream_key,
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
    caller.require(Scope::ChannelsWrite)?;
    let mut tx = state.pool.begin().await?;
    let current = db::channels::find_for_update(&mut *tx, id)
        .await?
        .filter(|row| caller.can_see(&row.tenant))
        .ok_or_else(ApiError::not_found_channel)?;
    let phase = current.phase;
    if current.outputs.0.channel_arn.is_none() || phase.is_going() {
        return Err(ApiError::Conflict {
            detail: format!(
                "the channel has no stream key to replace (phase: {})",
                phase.as_str()
            ),
            channel_id: Some(id),
        });
    }
    let row = db::channels::request_stream_key_rotation(&mut *tx, id).await?;
    db::events::insert(
        &mut *tx,
        id,
        &caller.key_name,
        EventKind::StreamKeyRotationRequested,
        json!({}),
    )
    .await?;
    tx.commit().await?;
    state.cache.forget_channel(&id);
    Ok((StatusCode::ACCEPTED, Json(Channel::from(row))))
}
