//! The actions on one channel, each a CSRF-checked form post ([`Action`]) that the key's scope
//! must allow (a forged one without it is 403, nothing changed): retry now, rotate the stream
//! key, delete (the name typed as confirmation), and the two that show a secret once, on a page
//! no browser or proxy keeps: reveal the stream key, mint a test playback token.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;
use uuid::Uuid;

use super::ConsoleState;
use super::pages::parse_id;
use super::security::{Action, NoFields};
use super::session::Session;
use super::view::{ConsoleError, ConsoleResult, Frame, Time, render, see_other};
use crate::actions;
use crate::db::channels::ChannelRow;
use crate::domain::api_key::Scope;
use crate::domain::channel;
use crate::tokens::{TokenRequest, claims};

pub async fn retry(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    actions::retry(&state.pool, &action.session.caller, id).await?;
    Ok(see_other(&format!("/channels/{id}?done=retry")))
}

pub async fn rotate_stream_key(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    actions::rotate_stream_key(&state.pool, &action.session.caller, id).await?;
    Ok(see_other(&format!("/channels/{id}?done=rotate")))
}

/// The channel of the URL, when the session's key has `scope` and may see it.
async fn scoped_channel(
    state: &ConsoleState,
    session: &Session,
    id: &str,
    scope: Scope,
) -> ConsoleResult<(Uuid, ChannelRow)> {
    let id = parse_id(id)?;
    session.caller.require(scope)?;
    let row = actions::visible_channel(&state.pool, &session.caller, id).await?;
    Ok((id, row))
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm_name: String,
}

/// Deletes the channel when the name typed matches it.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<DeleteForm>,
) -> ConsoleResult {
    let (id, row) = scoped_channel(&state, &action.session, &id, Scope::ChannelsWrite).await?;
    let caller = &action.session.caller;
    if action.form.confirm_name.trim() != row.name {
        return Err(ConsoleError::Unprocessable(format!(
            "type the channel's name, {}, to delete it; nothing was deleted",
            row.name
        )));
    }
    actions::delete(&state.pool, caller, id, false).await?;
    Ok(see_other(&format!("/channels/{id}?done=delete")))
}

/// A secret shown once: the stream key, or a test playback token.
#[derive(Template)]
#[template(path = "console/secret.html")]
struct SecretPage {
    frame: Frame,
    id: Uuid,
    name: String,
    stream_key: Option<StreamKeyView>,
    token: Option<TokenView>,
}

struct StreamKeyView {
    key: String,
    ingest_endpoint: String,
}

struct TokenView {
    token: String,
    playback_url: String,
    expires: Time,
}

/// The page carrying a secret: never stored by the browser or a proxy, never sent as a referrer.
fn secret_page(page: SecretPage) -> Response {
    let mut response = render(&page);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, max-age=0"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

pub async fn reveal_stream_key(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let id = parse_id(&id)?;
    let caller = &action.session.caller;
    let key = actions::read_stream_key(&state.pool, &state.aws, caller, id).await?;
    let row = actions::visible_channel(&state.pool, caller, id).await?;
    tracing::info!(key = %caller.key_name, channel = %id, "stream key revealed in the console");
    Ok(secret_page(SecretPage {
        frame: Frame::new(&action.session, "channels"),
        id,
        name: row.name,
        stream_key: Some(StreamKeyView {
            key: key.stream_key,
            ingest_endpoint: key.ingest_endpoint,
        }),
        token: None,
    }))
}

/// A playback token with the default TTL, to try the channel in a player.
pub async fn mint_token(
    State(state): State<ConsoleState>,
    Path(id): Path<String>,
    action: Action<NoFields>,
) -> ConsoleResult {
    let (id, row) = scoped_channel(&state, &action.session, &id, Scope::TokensMint).await?;
    let spec = &row.spec.0;
    let outputs = &row.outputs.0;
    let (arn, url) = channel::mintable(
        spec.authorized,
        spec.playback_public_key_pem.is_some(),
        row.phase,
        outputs.channel_arn.as_deref(),
        outputs.playback_url.as_deref(),
    )
    .map_err(ConsoleError::Conflict)?;
    let request = TokenRequest::default();
    let claims =
        claims::build(&request, arn, Utc::now(), state.tokens.limits).map_err(|errors| {
            let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            ConsoleError::Unprocessable(messages.join("; "))
        })?;
    let signer = state.tokens.ring.signer().ok_or_else(|| {
        ConsoleError::Unavailable("no playback signing key is active yet; try again shortly".into())
    })?;
    let token = signer.sign(&claims).map_err(ConsoleError::Internal)?;
    metrics::counter!(crate::metrics::TOKENS_MINTED).increment(1);
    Ok(secret_page(SecretPage {
        frame: Frame::new(&action.session, "channels"),
        id,
        name: row.name.clone(),
        stream_key: None,
        token: Some(TokenView {
            playback_url: format!("{url}?token={token}"),
            token,
            expires: claims.expires_at().into(),
        }),
    }))
}
