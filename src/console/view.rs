//! What every page shares: the navigation a caller's scopes allow, times as `<time>` values the
//! script shows in the browser's zone, rendering, and the console's errors as HTML pages.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};

use super::BASE;
use super::session::Session;
use crate::actions::ActionError;
use crate::domain::api_key::{MissingScope, Scope};

/// The frame around every signed-in page: who is signed in, the links the key may use, the
/// CSRF token of the session's forms, and a status line after an action.
pub struct Frame {
    pub key_name: String,
    pub tenant: Option<String>,
    pub csrf: String,
    pub admin: bool,
    pub webhooks: bool,
    /// Which navigation link is the current page.
    pub current: &'static str,
    pub flash: Option<String>,
    /// Whether the page subscribes to live updates (its script opens the event stream).
    pub live: bool,
}

impl Frame {
    pub fn new(session: &Session, current: &'static str) -> Frame {
        let caller = &session.caller;
        Frame {
            key_name: caller.key_name.clone(),
            tenant: caller.tenant.clone(),
            csrf: session.csrf.clone(),
            admin: caller.allows(Scope::Admin),
            webhooks: caller.allows(Scope::WebhooksManage),
            current,
            flash: None,
            live: false,
        }
    }

    pub fn live(mut self) -> Frame {
        self.live = true;
        self
    }

    /// The status line for `?done=…` after a redirect from an action.
    pub fn done(mut self, done: Option<&str>) -> Frame {
        self.flash = done.and_then(flash_text).map(str::to_owned);
        self
    }
}

fn flash_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "retry" => "Retry requested: the reconciler takes it up now.",
        "rotate" => "Rotation requested: the reconciler replaces the key now.",
        "delete" => "Deletion requested: the reconciler removes it from IVS and SSM.",
        "replay" => "Replay requested: the deliveries are due now.",
        "retry-delivery" => "The delivery is due again now.",
        "rotate-key" => "The playback signing key was rotated.",
        _ => return None,
    })
}

/// A time as the page shows it: ISO 8601 UTC in `datetime`, readable UTC in `title` and as the
/// text until the script replaces it with the browser's local time.
#[derive(Debug, Clone)]
pub struct Time {
    pub iso: String,
    pub utc: String,
}

impl From<DateTime<Utc>> for Time {
    fn from(at: DateTime<Utc>) -> Self {
        Time {
            iso: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            utc: at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        }
    }
}

pub fn time(at: Option<DateTime<Utc>>) -> Option<Time> {
    at.map(Time::from)
}

/// The page, as HTML.
pub fn render(template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(error) => ConsoleError::Internal(anyhow::anyhow!("rendering: {error}")).into_response(),
    }
}

/// A redirect after a POST (303: the browser GETs the target).
pub fn see_other(path: &str) -> Response {
    Redirect::to(&format!("{BASE}{path}")).into_response()
}

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No session, or an expired or revoked one.
    #[error("sign in first")]
    SignedOut,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type ConsoleResult<T = Response> = Result<T, ConsoleError>;

impl From<sqlx::Error> for ConsoleError {
    fn from(error: sqlx::Error) -> Self {
        match crate::db::unavailable_reason(&error) {
            Some(reason) => ConsoleError::Unavailable(reason.to_owned()),
            None => ConsoleError::Internal(error.into()),
        }
    }
}

impl From<MissingScope> for ConsoleError {
    fn from(missing: MissingScope) -> Self {
        ConsoleError::Forbidden(missing.to_string())
    }
}

impl From<ActionError> for ConsoleError {
    fn from(error: ActionError) -> Self {
        match error {
            ActionError::Forbidden(missing) => missing.into(),
            ActionError::NotFound(what) => ConsoleError::NotFound(what.into()),
            ActionError::Conflict(detail) => ConsoleError::Conflict(detail),
            ActionError::Database(e) => e.into(),
            ActionError::Aws(e) => ConsoleError::Unavailable(format!("AWS: {e}")),
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: String,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, title) = match &self {
            ConsoleError::SignedOut => {
                return Redirect::to(&format!("{BASE}/sign-in")).into_response();
            }
            ConsoleError::Forbidden(_) => (StatusCode::FORBIDDEN, "Not allowed"),
            ConsoleError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            ConsoleError::Conflict(_) => (StatusCode::CONFLICT, "Not possible now"),
            ConsoleError::BadRequest(_) => (StatusCode::BAD_REQUEST, "Bad request"),
            ConsoleError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "Check the form"),
            ConsoleError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "Try again shortly"),
            ConsoleError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong")
            }
        };
        let detail = match &self {
            ConsoleError::Internal(error) => {
                tracing::error!(error = %format!("{error:#}"), "console request failed");
                "the console could not answer; the service log has the details".to_owned()
            }
            other => other.to_string(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            title,
            detail,
        };
        let html = page.render().unwrap_or_else(|_| title.to_owned());
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response()
    }
}
