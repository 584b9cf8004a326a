//! A channel's chat room for its members and moderators: `POST /v1/channels/{id}/chat-tokens`
//! mints an IVS Chat token (one CreateChatToken call each, paced by the facade's limiter within
//! the chat wait budget: beyond it a 429 with `Retry-After`, never AWS's throttling), and
//! `…/chat/disconnections`, `…/chat/message-deletions` and `…/chat/events` moderate the room
//! (DisconnectUser, DeleteMessage, SendEvent), each recorded in the channel's audit trail with
//! the API key's name. Chat tokens are secrets: answered with `Cache-Control: no-store`, never
//! logged, never stored.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::auth::{Caller, MintCaller, Scope};
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ChannelId};
use crate::api::tokens::mint_target;
use crate::aws::{AwsError, AwsErrorKind};
use crate::db;
use crate::domain::chat_access::{ChatEvent, ChatTokenRequest, Disconnection, MessageDeletion};
use crate::domain::{EventKind, FieldError, Phase};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mint_chat_token))
        .routes(routes!(disconnect_user))
        .routes(routes!(delete_message))
        .routes(routes!(send_event))
}

/// A chat token for one member: hand it to the member's chat client, which connects with it
/// once (IVS Chat accepts each token for one connection).
#[derive(Serialize, ToSchema)]
pub struct ChatTokenResponse {
    /// The token (a secret: give it to this member only).
    #[schema(example = "ACEStpa...redacted")]
    pub token: String,
    /// The client must connect before this.
    pub token_expires_at: DateTime<Utc>,
    /// IVS Chat closes the connection at this time.
    pub session_expires_at: DateTime<Utc>,
}

/// A moderation action IVS Chat has carried out.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModerationDone {
    pub channel_id: Uuid,
    /// `chat_user_disconnected`, `chat_message_deleted` or `chat_event_sent`, as in the audit trail.
    pub kind: EventKind,
    /// IVS Chat's id for the deletion or the event (none for a disconnection).
    pub id: Option<String>,
}

/// The chat room of a channel the caller may see, from the in-process cache when it can be
/// (one indexed read otherwise), or why not: 404 for a missing, another tenant's or a deleted
/// channel, as for every other call on it; 409 when chat is off or the room is not provisioned yet.
async fn chat_room(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<String> {
    let target = mint_target(state, id)
        .await?
        .filter(|t| caller.can_see(&t.tenant) && t.phase != Phase::Deleted)
        .ok_or_else(ApiError::not_found_channel)?;
    let conflict = |detail: String| ApiError::Conflict {
        detail,
        channel_id: Some(id),
    };
    if !target.chat_enabled {
        return Err(conflict(
            "the channel has no chat: declare it with `chat: {\"enabled\": true}` (PATCH the channel)".into(),
        ));
    }
    match (target.phase.may_mint(), &target.chat_room_arn) {
        (true, Some(arn)) => Ok(arn.clone()),
        _ => Err(conflict(format!(
            "the channel's chat room is not provisioned yet (phase: {}); try again once it is ready",
            target.phase.as_str()
        ))),
    }
}

/// What an IVS Chat failure means to the caller: the rate budget in use is a 429 with
/// `Retry-After` (so is AWS's throttling, should another client share the account's rate); a
/// room gone from IVS Chat is a 409; anything else as every AWS failure.
fn chat_failure(error: AwsError, channel_id: Uuid, rate: f64) -> ApiError {
    match error.kind {
        AwsErrorKind::BudgetExhausted | AwsErrorKind::Throttled => {
            let wait = error.retry_after.unwrap_or_default().as_secs_f64();
            ApiError::TooManyRequests {
                detail: format!(
                    "IVS Chat's {} rate ({rate} per second, per service replica) is in use beyond \
                     the wait budget; retry after Retry-After",
                    error.operation
                ),
                retry_after_secs: wait.ceil().max(1.0) as u64,
                limit: rate as i64,
            }
        }
        AwsErrorKind::NotFound => ApiError::Conflict {
            detail: "the channel's chat room does not exist in IVS Chat right now (the drift \
                     sweep recreates it); try again shortly"
                .into(),
            channel_id: Some(channel_id),
        },
        _ => ApiError::Aws(error),
    }
}

/// Mint a chat token for a member of a channel's chat room.
///
/// Each token is one IVS Chat CreateChatToken call. The service paces the calls below the
/// account's rate; a request whose turn would come later than the wait budget
/// (`CHAT_WAIT_BUDGET_MS`) gets 429 with `Retry-After` at once. The token is returned once,
/// with `Cache-Control: no-store`, and never stored or logged.
#[utoipa::path(
    post, path = "/v1/channels/{id}/chat-tokens", tag = "chat",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = ChatTokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A chat token for this member", body = ChatTokenResponse,
         headers(("Cache-Control" = String, description = "`no-store`: the token is a secret"))),
    )
)]
async fn mint_chat_token(
    State(state): State<AppState>,
    MintCaller(caller): MintCaller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<ChatTokenRequest>,
) -> ApiResult<Response> {
    caller.require(Scope::TokensMint)?;
    let room = chat_room(&state, &caller, id).await?;
    let grant = request.validate().map_err(ApiError::Validation)?;
    let rate = state.aws.chat_token_rate();
    let token = state
        .aws
        .create_chat_token(&room, &grant)
        .await
        .map_err(|e| chat_failure(e, id, rate))?;
    metrics::counter!(crate::metrics::CHAT_TOKENS_MINTED).increment(1);
    let mut response = Json(ChatTokenResponse {
        token: token.token,
        token_expires_at: token.token_expires_at,
        session_expires_at: token.session_expires_at,
    })
    .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(super::contract::NO_STORE),
    );
    Ok(response)
}

/// One moderation action: the scope, tenant and body checks, the room, the IVS Chat call
/// (`act`, given the room's ARN, returns IVS Chat's id for the action and the audit details),
/// then the audit entry with the API key's name.
async fn moderate(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    validation: Result<(), Vec<FieldError>>,
    kind: EventKind,
    act: impl AsyncFnOnce(String) -> Result<(Option<String>, Value), AwsError>,
) -> ApiResult<Json<ModerationDone>> {
    caller.require(Scope::ChatModerate)?;
    let room = chat_room(state, caller, id).await?;
    validation.map_err(ApiError::Validation)?;
    let rate = state.aws.chat_moderation_rate();
    let (ivs_id, details) = act(room).await.map_err(|e| chat_failure(e, id, rate))?;
    db::events::insert(&state.pool, id, &caller.key_name, kind, details).await?;
    Ok(Json(ModerationDone {
        channel_id: id,
        kind,
        id: ivs_id,
    }))
}

/// Disconnect a user from a channel's chat room.
///
/// IVS Chat closes every connection of the user (DisconnectUser) and tells the room. To keep
/// the user out, stop minting tokens for them too. Recorded in the channel's audit trail
/// (`chat_user_disconnected`) with the API key's name.
#[utoipa::path(
    post, path = "/v1/channels/{id}/chat/disconnections", tag = "chat",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = Disconnection,
    security(("bearer" = [])),
    responses((status = 200, description = "IVS Chat disconnected the user", body = ModerationDone))
)]
async fn disconnect_user(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<Disconnection>,
) -> ApiResult<Json<ModerationDone>> {
    let aws = &state.aws;
    let kind = EventKind::ChatUserDisconnected;
    moderate(
        &state,
        &caller,
        id,
        request.validate(),
        kind,
        async |room| {
            let reason = request.reason.as_deref();
            aws.disconnect_user(&room, &request.user_id, reason).await?;
            Ok((
                None,
                json!({ "user_id": request.user_id, "reason": reason }),
            ))
        },
    )
    .await
}

/// Delete a message in a channel's chat room.
///
/// IVS Chat tells every client in the room to remove the message (DeleteMessage). Recorded in
/// the channel's audit trail (`chat_message_deleted`) with the API key's name.
#[utoipa::path(
    post, path = "/v1/channels/{id}/chat/message-deletions", tag = "chat",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = MessageDeletion,
    security(("bearer" = [])),
    responses((status = 200, description = "IVS Chat sent the deletion to the room", body = ModerationDone))
)]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<MessageDeletion>,
) -> ApiResult<Json<ModerationDone>> {
    let aws = &state.aws;
    let kind = EventKind::ChatMessageDeleted;
    moderate(
        &state,
        &caller,
        id,
        request.validate(),
        kind,
        async |room| {
            let reason = request.reason.as_deref();
            let ivs_id = aws
                .delete_chat_message(&room, &request.message_id, reason)
                .await?;
            let details =
                json!({ "message_id": request.message_id, "reason": reason, "id": ivs_id });
            Ok((ivs_id, details))
        },
    )
    .await
}

/// Send an event to everyone in a channel's chat room.
///
/// For announcements such as "class starts in 5 minutes": members' clients receive it as an
/// `EVENT` with this name and attributes (SendEvent). Recorded in the channel's audit trail
/// (`chat_event_sent`) with the API key's name.
#[utoipa::path(
    post, path = "/v1/channels/{id}/chat/events", tag = "chat",
    params(("id" = Uuid, Path, description = "Channel id")),
    request_body = ChatEvent,
    security(("bearer" = [])),
    responses((status = 200, description = "IVS Chat sent the event to the room", body = ModerationDone))
)]
async fn send_event(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<ChatEvent>,
) -> ApiResult<Json<ModerationDone>> {
    let aws = &state.aws;
    let kind = EventKind::ChatEventSent;
    moderate(
        &state,
        &caller,
        id,
        request.validate(),
        kind,
        async |room| {
            let (name, attributes) = (&request.event_name, &request.attributes);
            let ivs_id = aws.send_event(&room, name, attributes).await?;
            let details = json!({ "event_name": name, "attributes": attributes, "id": ivs_id });
            Ok((ivs_id, details))
        },
    )
    .await
}
