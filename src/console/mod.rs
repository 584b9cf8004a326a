//! The operator console, an edge beside the API: server-rendered HTML pages under `/console`
//! (askama templates compiled into the binary, one small embedded script and stylesheet), sign-in
//! with an API key exchanged for a server-side session, CSRF-checked form posts, and live phase
//! updates over Server-Sent Events. A session acts with its API key's scopes and tenant exactly
//! as the API does; the logic both edges share lives inward (`actions`, `live`, `db`, `domain`).

mod admin;
mod assets;
mod broadcasts;
mod forms;
mod pages;
mod security;
mod session;
mod updates;
mod view;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use sqlx::PgPool;

use crate::aws::Aws;
use crate::live::LiveStatus;
use crate::playback_keys::Tokens;

/// Where the console is mounted; every link and redirect starts with it.
pub const BASE: &str = "/console";

/// The console's settings, from the command line or the environment.
#[derive(Debug, clap::Args, Clone)]
pub struct ConsoleArgs {
    /// Seconds a console session lasts after sign-in.
    #[arg(long, env = "CONSOLE_SESSION_TTL_SECS", default_value_t = 12 * 3600, value_parser = clap::value_parser!(u64).range(60..=30 * 24 * 3600))]
    pub console_session_ttl_secs: u64,
    /// When the session cookie is marked `Secure`: `auto` (when the request came over https, as
    /// `X-Forwarded-Proto` says), `always` (behind TLS termination that sets no header), `never`.
    #[arg(long, env = "CONSOLE_COOKIE_SECURE", value_enum, default_value_t = CookieSecure::Auto)]
    pub console_cookie_secure: CookieSecure,
    /// Origins besides the console's own (scheme://host[:port]) whose form posts are accepted,
    /// comma-separated; e.g. the public origin when a proxy rewrites the Host header.
    #[arg(long, env = "CONSOLE_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub console_allowed_origins: Vec<String>,
    /// Do not serve the console (the API alone).
    #[arg(long, env = "CONSOLE_DISABLED")]
    pub console_disabled: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CookieSecure {
    Auto,
    Always,
    Never,
}

/// The console's settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    pub session_ttl: Duration,
    pub cookie_secure: CookieSecure,
    /// Exact origins (`https://ops.example.com`) accepted besides the request's own.
    pub allowed_origins: Vec<String>,
}

impl From<&ConsoleArgs> for ConsoleSettings {
    fn from(args: &ConsoleArgs) -> Self {
        ConsoleSettings {
            session_ttl: Duration::from_secs(args.console_session_ttl_secs),
            cookie_secure: args.console_cookie_secure,
            allowed_origins: args
                .console_allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            session_ttl: Duration::from_secs(12 * 3600),
            cookie_secure: CookieSecure::Auto,
            allowed_origins: Vec::new(),
        }
    }
}

/// What every console handler can reach.
#[derive(Clone)]
pub struct ConsoleState(Arc<Inner>);

pub struct Inner {
    pub pool: PgPool,
    pub aws: Aws,
    pub tokens: Arc<Tokens>,
    pub live: LiveStatus,
    pub settings: ConsoleSettings,
    hub: updates::Hub,
}

impl std::ops::Deref for ConsoleState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl ConsoleState {
    /// The state, with its background task: the one `LISTEN` that feeds every open page.
    pub fn new(pool: PgPool, aws: Aws, tokens: Arc<Tokens>, settings: ConsoleSettings) -> Self {
        let hub = updates::Hub::start(pool.clone());
        ConsoleState(Arc::new(Inner {
            pool,
            aws,
            tokens,
            live: LiveStatus::default(),
            settings,
            hub,
        }))
    }
}

/// The console's routes, under [`BASE`], for any outer router's state (the API's: one port).
pub fn router<S: Clone + Send + Sync + 'static>(state: ConsoleState) -> Router<S> {
    Router::new()
        .route("/console", get(pages::overview))
        .route("/console/", get(pages::overview))
        .route(
            "/console/sign-in",
            get(session::sign_in_page).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/channels", get(pages::channels))
        .route("/console/channels/{id}", get(pages::channel))
        .route("/console/channels/{id}/retry", post(forms::retry))
        .route(
            "/console/channels/{id}/rotate-stream-key",
            post(forms::rotate_stream_key),
        )
        .route(
            "/console/channels/{id}/reveal-stream-key",
            post(forms::reveal_stream_key),
        )
        .route("/console/channels/{id}/delete", post(forms::delete))
        .route(
            "/console/channels/{id}/playback-token",
            post(forms::mint_token),
        )
        .route("/console/drift", get(admin::drift))
        .route("/console/playback-keys", get(admin::playback_keys))
        .route(
            "/console/playback-keys/rotate",
            post(admin::rotate_playback_key),
        )
        .route("/console/webhooks", get(admin::webhooks))
        .route("/console/webhooks/{id}", get(admin::webhook))
        .route("/console/webhooks/{id}/replay", post(admin::replay))
        .route(
            "/console/webhook-deliveries/{id}/retry",
            post(admin::retry_delivery),
        )
        .route("/console/events", get(updates::events))
        .route("/console/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
