//! `GET /v1/drift`: what the latest drift sweep found (operators only).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::api::AppState;
use crate::api::auth::{Caller, Scope};
use crate::api::error::ApiResult;
use crate::db;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_drift))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DriftSweep {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Ready channels compared with IVS.
    pub channels_checked: i32,
    /// IVS channels listed while looking for orphans.
    pub ivs_channels_seen: i32,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DriftFinding {
    pub found_at: DateTime<Utc>,
    /// `deleted_out_of_band`, `changed_out_of_band` (both repaired by the reconciler) or
    /// `orphan` (an IVS channel with the service's identity tag that no live channel owns).
    pub kind: String,
    pub channel_id: Option<Uuid>,
    pub channel_arn: String,
    pub details: Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DriftReport {
    /// The latest finished sweep; null before the first one.
    pub sweep: Option<DriftSweep>,
    pub findings: Vec<DriftFinding>,
}

/// What the latest drift sweep found.
///
/// The sweep runs every `DRIFT_SWEEP_SECS` in one replica at a time: it compares every ready
/// channel with IVS (BatchGetChannel) and lists IVS channels carrying the service's tags.
#[utoipa::path(
    get, path = "/v1/drift", tag = "operations",
    security(("bearer" = [])),
    responses((status = 200, description = "The latest sweep and its findings", body = DriftReport))
)]
async fn get_drift(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<DriftReport>> {
    caller.require(Scope::Admin)?;
    let (sweep, found) = db::drift::latest_report(&state.pool).await?;
    let findings = found
        .into_iter()
        .map(|r| DriftFinding {
            found_at: r.found_at,
            kind: <&str>::from(r.kind).to_owned(),
            channel_id: r.channel_id,
            channel_arn: r.channel_arn,
            details: r.details.0,
        })
        .collect();
    let sweep = sweep.map(|s| DriftSweep {
        id: s.id,
        started_at: s.started_at,
        finished_at: s.finished_at,
        channels_checked: s.channels_checked,
        ivs_channels_seen: s.ivs_channels_seen,
    });
    Ok(Json(DriftReport { sweep, findings }))
}
