//! Prometheus metrics: the recorder, the names the service records, and the `/metrics` text.
//!
//! Recorded where they happen: HTTP requests by route, status and latency (a middleware);
//! reconcile attempts, outcomes and durations (the reconciler); AWS calls by operation and
//! outcome, throttles included (an SDK interceptor, `aws::interceptor`); tokens minted. Gauges
//! that describe the database (channels by phase, rows waiting) are read at scrape time.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::error::ApiError;
use crate::startup::AppState;

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const RECONCILE_ATTEMPTS: &str = "reconcile_attempts_total";
pub const RECONCILE_DURATION: &str = "reconcile_duration_seconds";
pub const AWS_CALLS: &str = "aws_calls_total";
pub const TOKENS_MINTED: &str = "playback_tokens_minted_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once (later calls reuse it) and returns its handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test harness) may already be installed; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

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
    let phases: Vec<(String, i64)> =
        sqlx::query_as("select phase, count(*) from channels group by phase")
            .fetch_all(pool)
            .await?;
    for phase in [
        "pending",
        "provisioning",
        "ready",
        "updating",
        "failed",
        "deleting",
        "deleted",
    ] {
        let count = phases
            .iter()
            .find(|(p, _)| p == phase)
            .map_or(0, |(_, n)| *n);
        metrics::gauge!("channels", "phase" => phase).set(count as f64);
    }
    let waiting: i64 = sqlx::query_scalar(
        "select count(*) from channels
          where phase in ('pending', 'provisioning', 'updating', 'deleting') and next_attempt_at <= now()",
    )
    .fetch_one(pool)
    .await?;
    metrics::gauge!("reconciler_rows_waiting").set(waiting as f64);
    Ok(())
}
