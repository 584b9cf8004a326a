//! Console sessions: an API key (any with `channels:read`) is exchanged for a random session
//! token in an `HttpOnly`, `SameSite=Strict` cookie; Postgres keeps only its SHA-256, with the
//! key it acts for and its expiry. Every request reads the session and its key afresh, so an
//! expired session or a revoked key ends at the next request. The session's CSRF token is
//! derived from its token, so it is bound to the session and needs no storage.

use askama::Template;
use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::security::{self, Action, NoFields};
use super::view::{ConsoleError, ConsoleResult, render, see_other};
use super::{BASE, ConsoleState, CookieSecure};
use crate::db;
use crate::domain::api_key::{Caller, KEY_PREFIX, Scope, hash_key};

/// The session cookie's name.
pub const COOKIE: &str = "ivsp_console";
/// Expired sessions deleted at each sign-in.
const PRUNE_BATCH: i64 = 100;

/// A signed-in console user: the API key's caller, and the session's CSRF token.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    token_hash: [u8; 32],
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = ConsoleError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let token = session_token(&parts.headers).ok_or(ConsoleError::SignedOut)?;
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let key = db::console::find_session(&state.pool, &token_hash)
            .await?
            .ok_or(ConsoleError::SignedOut)?;
        let caller = key.caller();
        // A key that lost `channels:read` since sign-in may no longer use the console.
        if !caller.allows(Scope::ChannelsRead) {
            return Err(ConsoleError::SignedOut);
        }
        Ok(Session {
            caller,
            csrf: csrf_token(token),
            token_hash,
        })
    }
}

/// The session token from the `Cookie` header(s).
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= 64)
}

/// The synchronizer token of a session: a hash of its secret token under a label of its own,
/// so it can be shown in pages without revealing the cookie.
fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::digest(format!("ivsp-console-csrf:{session_token}").as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    error: Option<String>,
}

pub async fn sign_in_page() -> Response {
    render(&SignInPage { error: None })
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    api_key: String,
}

/// Exchanges an API key for a session. No session exists yet, so the `Origin` check alone
/// stands against cross-site sign-in.
pub async fn sign_in(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> ConsoleResult {
    security::check_origin(&headers, &state.settings)?;
    let secret = form.api_key.trim();
    let key = match secret.starts_with(KEY_PREFIX) {
        true => db::api_keys::find_active_by_hash(&state.pool, &hash_key(secret)).await?,
        false => None,
    };
    let Some(key) = key else {
        return Ok(refused(
            StatusCode::UNAUTHORIZED,
            "That API key is not valid (or was revoked).",
        ));
    };
    if !key.caller().allows(Scope::ChannelsRead) {
        return Ok(refused(
            StatusCode::FORBIDDEN,
            "That API key lacks the 'channels:read' scope the console needs.",
        ));
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let ttl = state.settings.session_ttl;
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(12));
    db::console::prune_sessions(&state.pool, PRUNE_BATCH).await?;
    db::console::insert_session(&state.pool, &token_hash, key.id, expires_at).await?;
    tracing::info!(key = %key.name, "console session started");
    let secure = secure(&headers, state.settings.cookie_secure);
    let cookie = format!(
        "{COOKIE}={token}; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age={}{}",
        ttl.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    Ok(with_cookie(see_other("/"), &cookie))
}

fn refused(status: StatusCode, message: &str) -> Response {
    let mut page = render(&SignInPage {
        error: Some(message.to_owned()),
    });
    *page.status_mut() = status;
    page
}

/// Ends the session and clears its cookie.
pub async fn sign_out(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    action: Action<NoFields>,
) -> ConsoleResult {
    db::console::delete_session(&state.pool, &action.session.token_hash).await?;
    let secure = secure(&headers, state.settings.cookie_secure);
    let cookie = format!(
        "{COOKIE}=; Path={BASE}; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    );
    Ok(with_cookie(see_other("/sign-in"), &cookie))
}

/// Whether the cookie is marked `Secure`: over https (as the proxy in front says), or always.
fn secure(headers: &HeaderMap, setting: CookieSecure) -> bool {
    match setting {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => security::forwarded_https(headers),
    }
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_and_csrf_differs_from_it() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ivsp_console=tok; b=2"),
        );
        assert_eq!(session_token(&headers), Some("tok"));
        assert_ne!(csrf_token("tok"), "tok");
        assert_eq!(csrf_token("tok"), csrf_token("tok"));
        assert_ne!(csrf_token("tok"), csrf_token("tok2"));
        headers.insert(header::COOKIE, HeaderValue::from_static("ivsp_console="));
        assert_eq!(session_token(&headers), None);
    }
}
