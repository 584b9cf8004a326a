//! `POST /v1/channels/{id}/playback-tokens`: the hot path. No AWS call; the signing key is
//! parsed once per process; the caller's key and the channel come from in-process caches that
//! Postgres notifications keep exact, so a warm request reads nothing from the database (a cold
//! one reads the key and the channel, one indexed row each).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::AppState;
use crate::api::auth::{MintCaller, Scope};
use crate::api::cache::MintTarget;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ChannelId, OptionalJson};
use crate::db::{self, channels::ChannelRow};
use crate::domain::{Phase, channel};
use crate::tokens::{TokenRequest, claims};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(mint_token))
}

/// A signed playback token and the URL that carries it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackToken {
    /// The JWT (ES384), for players that take the token separately.
    #[schema(
        example = "eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJhd3M6Y2hhbm5lbC1hcm4iOi4uLn0.c2ln"
    )]
    pub token: String,
    /// When IVS stops accepting the token for a new playback session.
    pub expires_at: DateTime<Utc>,
    /// The channel's playback URL with `?token=` already appended.
    #[schema(
        example = "https://abc.us-east-1.playback.live-video.net/api/video/v1/us-east-1.123456789012.channel.abcd.m3u8?token=eyJ..."
    )]
    pub playback_url: String,
}

impl From<&ChannelRow> for MintTarget {
    fn from(row: &ChannelRow) -> Self {
        MintTarget {
            tenant: row.tenant.clone(),
            phase: row.phase,
            authorized: row.spec.0.authorized,
            caller_key: row.spec.0.playback_public_key_pem.is_some(),
            channel_arn: row.outputs.0.channel_arn.clone(),
            playback_url: row.outputs.0.playback_url.clone(),
            chat_enabled: row.spec.0.chat.as_ref().is_some_and(|chat| chat.enabled),
            chat_room_arn: row.outputs.0.chat_room_arn.clone(),
        }
    }
}

/// The channel from the cache, or one indexed read (then cached).
pub(crate) async fn mint_target(
    state: &AppState,
    id: uuid::Uuid,
) -> ApiResult<Option<Arc<MintTarget>>> {
    if let Some(target) = state.cache.channel(&id) {
        return Ok(Some(target));
    }
    let epoch = state.cache.epoch();
    let Some(row) = db::channels::find(&state.pool, id).await? else {
        return Ok(None);
    };
    let target = Arc::new(MintTarget::from(&row));
    state.cache.put_channel(epoch, id, target.clone());
    Ok(Some(target))
}

/// Refuses channels that cannot have a service-signed token, each with its reason.
fn check_mintable(target: &MintTarget, id: uuid::Uuid) -> ApiResult<(&str, &str)> {
    channel::mintable(
        target.authorized,
        target.caller_key,
        target.phase,
        target.channel_arn.as_deref(),
        target.playback_url.as_deref(),
    )
    .map_err(|detail| ApiError::Conflict {
        detail,
        channel_id: Some(id),
    })
}

/// Mint a playback token for a private channel.
///
/// The token is signed with the service's managed key (ES384) and follows IVS's claims exactly.
/// Every body field is optional; an empty body gives a token with the default TTL.
#[utoipa::path(
    post, path = "/v1/channels/{id}/playback-tokens", tag = "tokens",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body(content = TokenRequest, description = "Optional token settings"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A signed token", body = PlaybackToken),
        (status = 409, description = "The channel is public (no token needed), uses a caller-supplied key (sign your own tokens), or is not ready (its phase is named)",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request breaks a limit; `errors` names the field",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "No signing key is active yet (it is being imported into IVS)",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn mint_token(
    State(state): State<AppState>,
    MintCaller(caller): MintCaller,
    ChannelId(id): ChannelId,
    OptionalJson(request): OptionalJson<TokenRequest>,
) -> ApiResult<Json<PlaybackToken>> {
    caller.require(Scope::TokensMint)?;
    let target = mint_target(&state, id)
        .await?
        .filter(|t| caller.can_see(&t.tenant) && t.phase != Phase::Deleted)
        .ok_or_else(ApiError::not_found_channel)?;
    let (arn, url) = check_mintable(&target, id)?;
    let claims = claims::build(&request, arn, Utc::now(), state.tokens.limits)
        .map_err(ApiError::Validation)?;
    let signer = state.tokens.ring.signer().ok_or_else(|| {
        ApiError::Unavailable(
            "no playback signing key is active yet (it is imported into IVS by the reconciler); try again shortly".into(),
        )
    })?;
    let token = signer.sign(&claims)?;
    metrics::counter!(crate::metrics::TOKENS_MINTED).increment(1);
    let playback_url = format!("{url}?token={token}");
    Ok(Json(PlaybackToken {
        token,
        expires_at: claims.expires_at(),
        playback_url,
    }))
}
