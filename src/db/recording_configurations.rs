//! Queries on `recording_configurations`: the shared IVS recording configurations, one per
//! distinct settings tuple, and where each is in its life (`creating` → `active`, or `failed`).

use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};

use crate::domain::channel::RecordingSpec;

/// The states the `state` column allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RecordingState {
    Creating,
    Active,
    Failed,
    Deleting,
}

#[derive(Debug, Clone, FromRow)]
pub struct RecordingRow {
    pub arn: Option<String>,
    pub state: RecordingState,
}

/// The ARN of the configuration for `key` if it is active.
pub async fn active_arn(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "select arn from recording_configurations where settings_key = $1 and state = $2",
    )
    .bind(key)
    .bind(RecordingState::Active)
    .fetch_optional(db)
    .await?
    .flatten())
}

/// Records the settings tuple (if new) and returns its row.
pub async fn register(
    db: &mut sqlx::PgConnection,
    key: &str,
    settings: &RecordingSpec,
) -> sqlx::Result<RecordingRow> {
    sqlx::query(
        "insert into recording_configurations (settings_key, settings) values ($1, $2) on conflict do nothing",
    )
    .bind(key)
    .bind(Json(settings))
    .execute(&mut *db)
    .await?;
    sqlx::query_as("select arn, state from recording_configurations where settings_key = $1")
        .bind(key)
        .fetch_one(&mut *db)
        .await
}

/// The configuration now exists in IVS as `arn`, still becoming active.
pub async fn set_creating(db: impl PgExecutor<'_>, key: &str, arn: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update recording_configurations set arn = $2, state = $3, last_error = null where settings_key = $1",
    )
    .bind(key)
    .bind(arn)
    .bind(RecordingState::Creating)
    .execute(db)
    .await?;
    Ok(())
}

/// IVS no longer has the configuration: forget its ARN so it is created again.
pub async fn forget_arn(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update recording_configurations set arn = null, state = $2 where settings_key = $1",
    )
    .bind(key)
    .bind(RecordingState::Creating)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_active(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update recording_configurations set state = $2, last_error = null where settings_key = $1",
    )
    .bind(key)
    .bind(RecordingState::Active)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_failed(db: impl PgExecutor<'_>, key: &str, message: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update recording_configurations set state = $2, last_error = $3 where settings_key = $1",
    )
    .bind(key)
    .bind(RecordingState::Failed)
    .bind(Json(serde_json::json!({ "message": message })))
    .execute(db)
    .await?;
    Ok(())
}

/// The ARN recorded for `key`, if any.
pub async fn arn(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<Option<String>> {
    Ok(
        sqlx::query_scalar("select arn from recording_configurations where settings_key = $1")
            .bind(key)
            .fetch_optional(db)
            .await?
            .flatten(),
    )
}

/// The settings of the configuration IVS knows as `arn`.
pub async fn settings_by_arn(
    db: impl PgExecutor<'_>,
    arn: &str,
) -> sqlx::Result<Option<RecordingSpec>> {
    let settings: Option<Json<RecordingSpec>> =
        sqlx::query_scalar("select settings from recording_configurations where arn = $1")
            .bind(arn)
            .fetch_optional(db)
            .await?;
    Ok(settings.map(|s| s.0))
}

pub async fn delete(db: impl PgExecutor<'_>, key: &str) -> sqlx::Result<()> {
    sqlx::query("delete from recording_configurations where settings_key = $1")
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
