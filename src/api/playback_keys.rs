//! `/v1/playback-keys` (admin): every playback key the service knows (public halves only) and
//! the one-call rotation of the managed signing key.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::error::{ApiError, ApiResult};
use crate::db::{self, playback_keys::PlaybackKeyRow};
use crate::domain::keys::{KeyOrigin, KeyState};
use crate::playback_keys::{KeyError, lifecycle};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_playback_keys))
        .routes(routes!(rotate_playback_key))
}

/// A playback key pair as IVS holds it: public material and facts, never a private key.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackKey {
    /// SHA-256 of the public key's DER SubjectPublicKeyInfo, hex.
    pub fingerprint: String,
    /// The fingerprint IVS reports (channels' `playback_key_pair_fingerprint`).
    pub ivs_fingerprint: Option<String>,
    pub arn: Option<String>,
    /// `managed` (the service signs with it) or `caller` (a channel's own key).
    pub source: KeyOrigin,
    /// `importing`, `active`, `retiring` (still in IVS until `delete_after`), `retired`, `failed`.
    pub state: KeyState,
    /// Whether this process signs tokens with it now.
    pub signing: bool,
    pub public_key_pem: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    /// When a retiring key is deleted from IVS (its last token has expired by then).
    pub delete_after: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlaybackKeyList {
    pub items: Vec<PlaybackKey>,
}

fn to_api(row: PlaybackKeyRow, signing: Option<&str>) -> PlaybackKey {
    PlaybackKey {
        signing: signing == Some(row.fingerprint.as_str()),
        fingerprint: row.fingerprint,
        ivs_fingerprint: row.ivs_fingerprint,
        arn: row.arn,
        source: row.source,
        state: row.state,
        public_key_pem: row.public_key_pem,
        created_at: row.created_at,
        activated_at: row.activated_at,
        retiring_at: row.retiring_at,
        delete_after: row.delete_after,
        retired_at: row.retired_at,
    }
}

/// List playback keys (admin).
#[utoipa::path(
    get, path = "/v1/playback-keys", tag = "playback keys",
    security(("bearer" = [])),
    responses((status = 200, description = "Every key, oldest first", body = PlaybackKeyList))
)]
async fn list_playback_keys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<PlaybackKeyList>> {
    caller.require(Scope::Admin)?;
    let signer = state.tokens.ring.signer();
    let signing = signer.as_ref().map(|k| k.fingerprint.as_str());
    let items = db::playback_keys::list(&state.pool)
        .await?
        .into_iter()
        .map(|row| to_api(row, signing))
        .collect();
    Ok(Json(PlaybackKeyList { items }))
}

/// Rotate the managed signing key (admin).
///
/// Generates a new P-384 key, stores it as a new version of the SSM parameter, imports its
/// public half into IVS and signs with it from now on. The previous key stays in IVS until
/// every token it signed has expired (`PLAYBACK_TOKEN_MAX_TTL_SECS`), then it is deleted.
#[utoipa::path(
    post, path = "/v1/playback-keys/rotate", tag = "playback keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new signing key", body = PlaybackKey),
        (status = 409, description = "Rotation is impossible now: IVS's 3 key pairs are in use, the key comes from a file, or a rotation is in progress",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn rotate_playback_key(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<PlaybackKey>> {
    caller.require(Scope::Admin)?;
    let max_ttl = std::time::Duration::from_secs(state.tokens.limits.max_ttl_secs as u64);
    let row = lifecycle::rotate(&state.pool, &state.aws, &state.tokens.ring, max_ttl)
        .await
        .map_err(rotate_problem)?;
    tracing::info!(actor = %caller.key_name, fingerprint = %row.fingerprint, "playback signing key rotated");
    let signing = Some(row.fingerprint.clone());
    Ok(Json(to_api(row, signing.as_deref())))
}

fn rotate_problem(error: KeyError) -> ApiError {
    let conflict = |detail: String| ApiError::Conflict {
        detail,
        channel_id: None,
    };
    match error {
        KeyError::NotRotatable(detail) | KeyError::QuotaFull(detail) => conflict(detail),
        KeyError::Busy => conflict(KeyError::Busy.to_string()),
        // IVS refused to import the new key: say why, it is for a person to resolve.
        KeyError::ImportRefused { code, message } => conflict(format!("{code}: {message}")),
        KeyError::Aws(e) => ApiError::Aws(e),
        KeyError::Database(e) => ApiError::Database(e),
        KeyError::Internal(e) => ApiError::Internal(e),
    }
}
