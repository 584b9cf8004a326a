//! Queries on `drift_sweeps` and `drift_findings`: what each sweep compared and what it found.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// What a sweep found about one channel: the `kind` column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FindingKind {
    /// IVS no longer has the channel; the reconciler recreates it.
    DeletedOutOfBand,
    /// IVS's channel differs from the spec; the reconciler repairs it.
    ChangedOutOfBand,
    /// An IVS channel with the service's identity tag that no live channel owns.
    Orphan,
}

#[derive(Debug, Clone, FromRow)]
pub struct SweepRow {
    pub id: Uuid,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub channels_checked: i32,
    pub ivs_channels_seen: i32,
}

#[derive(Debug, Clone, FromRow)]
pub struct FindingRow {
    pub found_at: DateTime<Utc>,
    pub kind: FindingKind,
    pub channel_id: Option<Uuid>,
    pub channel_arn: String,
    pub details: Json<Value>,
}

/// Whether a sweep finished within the last `seconds`.
pub async fn finished_within(db: impl PgExecutor<'_>, seconds: f64) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "select exists (select 1 from drift_sweeps where finished_at > now() - make_interval(secs => $1))",
    )
    .bind(seconds)
    .fetch_one(db)
    .await
}

pub async fn start(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<()> {
    sqlx::query("insert into drift_sweeps (id) values ($1)")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn finish(
    db: impl PgExecutor<'_>,
    id: Uuid,
    channels_checked: usize,
    ivs_channels_seen: usize,
) -> sqlx::Result<()> {
    sqlx::query(
        "update drift_sweeps set finished_at = now(), channels_checked = $2, ivs_channels_seen = $3 where id = $1",
    )
    .bind(id)
    .bind(channels_checked as i32)
    .bind(ivs_channels_seen as i32)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn insert_finding(
    db: impl PgExecutor<'_>,
    sweep_id: Uuid,
    kind: FindingKind,
    channel_id: Option<Uuid>,
    channel_arn: &str,
    details: &Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into drift_findings (sweep_id, kind, channel_id, channel_arn, details) values ($1, $2, $3, $4, $5)",
    )
    .bind(sweep_id)
    .bind(kind)
    .bind(channel_id)
    .bind(channel_arn)
    .bind(Json(details))
    .execute(db)
    .await?;
    Ok(())
}

/// The latest finished sweep.
pub async fn latest(db: impl PgExecutor<'_>) -> sqlx::Result<Option<SweepRow>> {
    sqlx::query_as(
        "select id, started_at, finished_at, channels_checked, ivs_channels_seen from drift_sweeps
          where finished_at is not null order by finished_at desc limit 1",
    )
    .fetch_optional(db)
    .await
}

pub async fn findings(db: impl PgExecutor<'_>, sweep_id: Uuid) -> sqlx::Result<Vec<FindingRow>> {
    sqlx::query_as(
        "select found_at, kind, channel_id, channel_arn, details from drift_findings where sweep_id = $1 order by id",
    )
    .bind(sweep_id)
    .fetch_all(db)
    .await
}

/// The latest finished sweep and what it found (nothing before the first sweep).
pub async fn latest_report(
    pool: &sqlx::PgPool,
) -> sqlx::Result<(Option<SweepRow>, Vec<FindingRow>)> {
    let Some(sweep) = latest(pool).await? else {
        return Ok((None, Vec::new()));
    };
    let found = findings(pool, sweep.id).await?;
    Ok((Some(sweep), found))
}
