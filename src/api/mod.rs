//! The HTTP edge: every route, the OpenAPI document generated from the same declarations
//! (utoipa-axum, so routes and document cannot drift apart), the server with its middleware,
//! the state handlers share, authentication, problem responses, the in-process caches that
//! keep the token hot path off the database, and fair share between tenants (request budgets,
//! channel limits, the account-quota guard).

pub mod auth;
pub mod broadcasts;
pub mod cache;
mod channel_views;
pub mod channels;
pub mod chat;
mod connections;
mod contract;
pub mod drift;
pub mod error;
pub mod extract;
pub mod health;
pub mod limits;
mod metrics;
pub mod open_files;
pub mod openapi;
pub mod pagination;
pub mod playback_keys;
pub mod rate_limit;
mod server;
mod state;
pub mod stream_keys;
pub mod streams;
pub mod tenants;
pub mod tokens;
pub mod viewers;
pub mod webhooks;

/// Live stream status is shared with the console; it lives in its own module.
pub use crate::live;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

pub use server::{Application, app, app_with, shutdown_signal};
pub use state::{AppState, HttpSettings, Shared};

/// The API's routes and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(channels::router())
        .merge(broadcasts::router())
        .merge(tokens::router())
        .merge(viewers::router())
        .merge(chat::router())
        .merge(stream_keys::router())
        .merge(playback_keys::router())
        .merge(streams::router())
        .merge(drift::router())
        .merge(tenants::router())
        .merge(webhooks::router())
        .split_for_parts();
    openapi::add_problem_responses(&mut doc);
    contract::apply(&mut doc);
    webhooks::document(&mut doc);
    (router, doc)
}

/// The OpenAPI document as pretty JSON: what `openapi/openapi.json` holds.
pub fn openapi_json() -> String {
    let (_, doc) = routes();
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
