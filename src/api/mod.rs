//! The HTTP API: every route, and the OpenAPI document generated from the same declarations
//! (utoipa-axum), so routes and document cannot drift apart.

pub mod channels;
pub mod drift;
pub mod extract;
pub mod health;
pub mod openapi;
pub mod playback_keys;
pub mod stream_keys;
pub mod streams;
pub mod tokens;
pub mod viewers;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::startup::AppState;

/// The API's routes and the OpenAPI document describing them.
pub fn routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(channels::router())
        .merge(tokens::router())
        .merge(viewers::router())
        .merge(stream_keys::router())
        .merge(playback_keys::router())
        .merge(streams::router())
        .merge(drift::router())
        .split_for_parts();
    openapi::add_problem_responses(&mut doc);
    (router, doc)
}

/// The OpenAPI document as pretty JSON: what `openapi/openapi.json` holds.
pub fn openapi_json() -> String {
    let (_, doc) = routes();
    let mut json = doc.to_pretty_json().unwrap_or_default();
    json.push('\n');
    json
}
