//! `POST /v1/channels/{id}/viewer-revocations`: cut off one viewer of a private channel
//! (IVS StartViewerSessionRevocation, paced by the client-side rate limiter), recorded in the
//! channel's events.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::channels::visible_channel;
use crate::api::error::{ApiError, ApiResult, FieldError};
use crate::api::extract::{ApiJson, ChannelId};
use crate::db;
use crate::domain::EventKind;
use crate::tokens::claims::{MAX_VIEWER_SESSION_VERSION, viewer_id_rule};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(revoke_viewer))
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"viewer_id": "member-4711", "viewer_session_versions_less_than_or_equal_to": 0}))]
pub struct ViewerRevocation {
    /// The `viewer_id` the tokens were minted with (1-40 characters).
    #[schema(min_length = 1, max_length = 40)]
    pub viewer_id: String,
    /// Sessions whose token carried a `viewer_session_version` up to this are revoked. Default 0.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 2147483647)]
    pub viewer_session_versions_less_than_or_equal_to: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevocationStarted {
    pub channel_id: Uuid,
    pub viewer_id: String,
    pub viewer_session_versions_less_than_or_equal_to: i64,
}

fn validate(request: &ViewerRevocation) -> ApiResult<()> {
    let mut errors = Vec::new();
    // The token's rule: a NUL would pass IVS and then fail the audit insert (a 500 for a
    // revocation that happened), so it is refused here, before the call.
    if let Err(message) = viewer_id_rule(&request.viewer_id) {
        errors.push(FieldError::new("/viewer_id", message));
    }
    let version = request.viewer_session_versions_less_than_or_equal_to;
    if !(0..=MAX_VIEWER_SESSION_VERSION).contains(&version) {
        errors.push(FieldError::new(
            "/viewer_session_versions_less_than_or_equal_to",
            format!("must be between 0 and {MAX_VIEWER_SESSION_VERSION}"),
        ));
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Revoke a viewer's playback sessions on a private channel.
///
/// IVS stops the viewer's current sessions whose token carried this `viewer_id` (and a session
/// version up to the one given) and refuses those tokens from then on. Only tokens minted with a
/// `viewer_id` can be revoked.
#[utoipa::path(
    post, path = "/v1/channels/{id}/viewer-revocations", tag = "tokens",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = ViewerRevocation,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "IVS has started revoking the sessions", body = RevocationStarted),
        (status = 409, description = "The channel is public or not provisioned",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "AWS throttled the call; try again",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn revoke_viewer(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<ViewerRevocation>,
) -> ApiResult<(StatusCode, Json<RevocationStarted>)> {
    caller.require(Scope::TokensMint)?;
    let channel = visible_channel(&state, &caller, id).await?;
    validate(&request)?;
    let arn = channel
        .outputs
        .0
        .channel_arn
        .as_deref()
        .filter(|_| channel.deleted_at.is_none());
    let conflict = |detail: &str| ApiError::Conflict {
        detail: detail.into(),
        channel_id: Some(id),
    };
    if !channel.spec.0.authorized {
        return Err(conflict(
            "the channel is public: its viewers have no tokens to revoke",
        ));
    }
    let arn = arn.ok_or_else(|| conflict("the channel is not provisioned in IVS"))?;
    let version = request.viewer_session_versions_less_than_or_equal_to;
    state
        .aws
        .start_viewer_session_revocation(arn, &request.viewer_id, version as i32)
        .await?;
    db::events::insert(
        &state.pool,
        id,
        &caller.key_name,
        EventKind::ViewerSessionRevoked,
        json!({ "viewer_id": request.viewer_id, "viewer_session_versions_less_than_or_equal_to": version }),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RevocationStarted {
            channel_id: id,
            viewer_id: request.viewer_id,
            viewer_session_versions_less_than_or_equal_to: version,
        }),
    ))
}
