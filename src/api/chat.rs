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
use crate::api::channels::visible_channel;
use crate::api::error::{ApiError, ApiResult};
use crate::api::extract::{ApiJson, ChannelId};
use crate::aws::{AwsError, AwsErrorKind};
use crate::db::{self, channels::ChannelRow};
use crate::domain::EventKind;
use crate::domain::chat_access::{ChatEvent, ChatTokenRequest, Disconnection, MessageDeletion};

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

/// The chat room of a channel that has one, or why not (404 for a deleted channel, as for
/// every other call on it; 409 when chat is off or the room is not provisioned yet).
fn chat_room(channel: &ChannelRow) -> ApiResult<&str> {
    if channel.deleted_at.is_some() {
        return Err(ApiError::not_found_channel());
    }
    let conflict = |detail: String| ApiError::Conflict {
        detail,
        channel_id: Some(channel.id),
    };
    if !channel
        .spec
        .0
        .chat
        .as_ref()
        .is_some_and(|chat| chat.enabled)
    {
        return Err(conflict(
            "the channel has no chat: declare it with `chat: {\"enabled\": true}` (PATCH the channel)".into(),
        ));
    }
    match (channel.phase.may_mint(), &channel.outputs.0.chat_room_arn) {
        (true, Some(arn)) => Ok(arn),
        _ => Err(conflict(format!(
            "the channel's chat room is not provisioned yet (phase: {}); try again once it is ready",
            channel.phase.as_str()
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
        (status = 409, description = "The channel has no chat, or its room is not provisioned yet (its phase is named)",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's token budget is spent, or IVS Chat's CreateChatToken rate is in use beyond the wait budget; retry after `Retry-After` seconds",
         body = crate::api::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds until a request is likely to fit"))),
        (status = 502, description = "IVS Chat refused the request",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 504, description = "IVS Chat did not answer in time",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn mint_chat_token(
    State(state): State<AppState>,
    MintCaller(caller): MintCaller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<ChatTokenRequest>,
) -> ApiResult<Response> {
    caller.require(Scope::TokensMint)?;
    let channel = visible_channel(&state, &caller, id).await?;
    let grant = request.validate().map_err(ApiError::Validation)?;
    let room = chat_room(&channel)?;
    let rate = state.aws.chat_token_rate();
    let token = state
        .aws
        .create_chat_token(room, &grant)
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

/// The room a moderator acts on, after the scope, tenant and body checks.
async fn moderated_room(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    validation: Result<(), Vec<crate::domain::FieldError>>,
) -> ApiResult<String> {
    caller.require(Scope::ChatModerate)?;
    let channel = visible_channel(state, caller, id).await?;
    validation.map_err(ApiError::Validation)?;
    chat_room(&channel).map(str::to_owned)
}

/// Records a moderation action in the channel's audit trail and answers with it.
async fn record(
    state: &AppState,
    caller: &Caller,
    id: Uuid,
    kind: EventKind,
    details: Value,
    ivs_id: Option<String>,
) -> ApiResult<Json<ModerationDone>> {
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
    responses(
        (status = 200, description = "IVS Chat disconnected the user", body = ModerationDone),
        (status = 409, description = "The channel has no chat, or its room is not provisioned yet",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's request budget is spent, or IVS Chat's DisconnectUser rate is in use beyond the wait budget",
         body = crate::api::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds until a request is likely to fit"))),
        (status = 502, description = "IVS Chat refused the request",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 504, description = "IVS Chat did not answer in time",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn disconnect_user(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<Disconnection>,
) -> ApiResult<Json<ModerationDone>> {
    let room = moderated_room(&state, &caller, id, request.validate()).await?;
    let reason = request.reason.as_deref();
    state
        .aws
        .disconnect_user(&room, &request.user_id, reason)
        .await
        .map_err(|e| chat_failure(e, id, state.aws.chat_moderation_rate()))?;
    let details = json!({ "user_id": request.user_id, "reason": reason });
    record(
        &state,
        &caller,
        id,
        EventKind::ChatUserDisconnected,
        details,
        None,
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
    responses(
        (status = 200, description = "IVS Chat sent the deletion to the room", body = ModerationDone),
        (status = 409, description = "The channel has no chat, or its room is not provisioned yet",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's request budget is spent, or IVS Chat's DeleteMessage rate is in use beyond the wait budget",
         body = crate::api::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds until a request is likely to fit"))),
        (status = 502, description = "IVS Chat refused the request",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 504, description = "IVS Chat did not answer in time",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_message(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<MessageDeletion>,
) -> ApiResult<Json<ModerationDone>> {
    let room = moderated_room(&state, &caller, id, request.validate()).await?;
    let reason = request.reason.as_deref();
    let ivs_id = state
        .aws
        .delete_chat_message(&room, &request.message_id, reason)
        .await
        .map_err(|e| chat_failure(e, id, state.aws.chat_moderation_rate()))?;
    let details = json!({ "message_id": request.message_id, "reason": reason, "id": ivs_id });
    record(
        &state,
        &caller,
        id,
        EventKind::ChatMessageDeleted,
        details,
        ivs_id,
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
    responses(
        (status = 200, description = "IVS Chat sent the event to the room", body = ModerationDone),
        (status = 409, description = "The channel has no chat, or its room is not provisioned yet",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "The tenant's request budget is spent, or IVS Chat's SendEvent rate is in use beyond the wait budget",
         body = crate::api::error::Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds until a request is likely to fit"))),
        (status = 502, description = "IVS Chat refused the request",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
        (status = 504, description = "IVS Chat did not answer in time",
         body = crate::api::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn send_event(
    State(state): State<AppState>,
    caller: Caller,
    ChannelId(id): ChannelId,
    ApiJson(request): ApiJson<ChatEvent>,
) -> ApiResult<Json<ModerationDone>> {
    let room = moderated_room(&state, &caller, id, request.validate()).await?;
    let ivs_id = state
        .aws
        .send_event(&room, &request.event_name, &request.attributes)
        .await
        .map_err(|e| chat_failure(e, id, state.aws.chat_moderation_rate()))?;
    let details = json!({
        "event_name": request.event_name, "attributes": request.attributes, "id": ivs_id
    });
    record(
        &state,
        &caller,
        id,
        EventKind::ChatEventSent,
        details,
        ivs_id,
    )
    .await
}
