//! The HTTP side of the metrics: a middleware that counts and times every request, and
//! `GET /metrics` in Prometheus text, with the database gauges read at scrape time.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use strum::VariantArray;

use super::error::ApiError;
use super::state::AppState;
use crate::db;
use crate::domain::Phase;
use crate::metrics::{
    CHANNELS, HTTP_DURATION, HTTP_REQUESTS, ROWS_WAITING, WEBHOOK_DISABLED_ENDPOINTS,
    WEBHOOK_OLDEST_PENDING, WEBHOOK_PENDING, install,
};

/// Counts and times every request by method, matched route and status.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`: Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Result<Response, ApiError> {
    let handle = install();
    record_database_gauges(&state.pool).await?;
    handle.run_upkeep();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response())
}

async fn record_database_gauges(pool: &sqlx::PgPool) -> Result<(), ApiError> {
    let counts = db::channels::count_by_phase(pool).await?;
    for phase in Phase::VARIANTS {
        let count = counts
            .iter()
            .find(|(p, _)| p == phase)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!(CHANNELS, "phase" => phase.as_str()).set(count as f64);
    }
    let waiting = db::channels::count_waiting(pool).await?;
    metrics::gauge!(ROWS_WAITING).set(waiting as f64);
    // The webhook outbox: deliveries waiting, how old the oldest is, endpoints switched off.
    let (pending, oldest_secs, disabled) = db::webhooks::gauges(pool).await?;
    metrics::gauge!(WEBHOOK_PENDING).set(pending as f64);
    metrics::gauge!(WEBHOOK_OLDEST_PENDING).set(oldest_secs);
    metrics::gauge!(WEBHOOK_DISABLED_ENDPOINTS).set(disabled as f64);
    Ok(())
}
