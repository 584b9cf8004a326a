//! Queries on the account-level configurations that channels share, one per distinct settings
//! tuple: IVS recording configurations (`recording_configurations`) and IVS Chat logging
//! configurations (`chat_logging_configurations`, one per bucket). Both tables have the same
//! shape and life (`creating` → `active`, or `failed`), so one set of queries serves both.

use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};

/// Which shared configuration: decides the table, and which channels count as its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedKind {
    Recording,
    ChatLogging,
}

impl SharedKind {
    fn table(self) -> &'static str {
        match self {
            SharedKind::Recording => "recording_configurations",
            SharedKind::ChatLogging => "chat_logging_configurations",
        }
    }

    /// The condition on `channels` under which a channel uses the configuration whose settings
    /// are `$2` (as stored, JSON).
    pub(crate) fn users_condition(self) -> &'static str {
        match self {
            SharedKind::Recording => "spec->'recording' = $2",
            SharedKind::ChatLogging => {
                "spec->'chat'->'log_to_s3_bucket' = $2 and spec->'chat'->'enabled' = 'true'::jsonb"
            }
        }
    }
}

/// The states the `state` column allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum SharedState {
    Creating,
    Active,
    Failed,
    Deleting,
}

#[derive(Debug, Clone, FromRow)]
pub struct SharedRow {
    pub arn: Option<String>,
    pub state: SharedState,
}

/// The ARN of the configuration for `key` if it is active.
pub async fn active_arn(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    key: &str,
) -> sqlx::Result<Option<String>> {
    let sql = format!(
        "select arn from {} where settings_key = $1 and state = $2",
        kind.table()
    );
    Ok(sqlx::query_scalar(&sql)
        .bind(key)
        .bind(SharedState::Active)
        .fetch_optional(db)
        .await?
        .flatten())
}

/// Records the settings tuple (if new) and returns its row.
pub async fn register<S: Serialize>(
    db: &mut sqlx::PgConnection,
    kind: SharedKind,
    key: &str,
    settings: &S,
) -> sqlx::Result<SharedRow> {
    let insert = format!(
        "insert into {} (settings_key, settings) values ($1, $2) on conflict do nothing",
        kind.table()
    );
    sqlx::query(&insert)
        .bind(key)
        .bind(Json(settings))
        .execute(&mut *db)
        .await?;
    let select = format!(
        "select arn, state from {} where settings_key = $1",
        kind.table()
    );
    sqlx::query_as(&select).bind(key).fetch_one(&mut *db).await
}

/// The configuration now exists in AWS as `arn`, still becoming active.
pub async fn set_creating(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    key: &str,
    arn: &str,
) -> sqlx::Result<()> {
    let sql = format!(
        "update {} set arn = $2, state = $3, last_error = null where settings_key = $1",
        kind.table()
    );
    sqlx::query(&sql)
        .bind(key)
        .bind(arn)
        .bind(SharedState::Creating)
        .execute(db)
        .await?;
    Ok(())
}

/// AWS no longer has the configuration: forget its ARN so it is created again.
pub async fn forget_arn(db: impl PgExecutor<'_>, kind: SharedKind, key: &str) -> sqlx::Result<()> {
    let sql = format!(
        "update {} set arn = null, state = $2 where settings_key = $1",
        kind.table()
    );
    sqlx::query(&sql)
        .bind(key)
        .bind(SharedState::Creating)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_active(db: impl PgExecutor<'_>, kind: SharedKind, key: &str) -> sqlx::Result<()> {
    let sql = format!(
        "update {} set state = $2, last_error = null where settings_key = $1",
        kind.table()
    );
    sqlx::query(&sql)
        .bind(key)
        .bind(SharedState::Active)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_failed(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    key: &str,
    message: &str,
) -> sqlx::Result<()> {
    let sql = format!(
        "update {} set state = $2, last_error = $3 where settings_key = $1",
        kind.table()
    );
    sqlx::query(&sql)
        .bind(key)
        .bind(SharedState::Failed)
        .bind(Json(serde_json::json!({ "message": message })))
        .execute(db)
        .await?;
    Ok(())
}

/// The ARN recorded for `key`, if any.
pub async fn arn(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    key: &str,
) -> sqlx::Result<Option<String>> {
    let sql = format!("select arn from {} where settings_key = $1", kind.table());
    Ok(sqlx::query_scalar(&sql)
        .bind(key)
        .fetch_optional(db)
        .await?
        .flatten())
}

/// The settings of the configuration AWS knows as `arn`.
pub async fn settings_by_arn<S: DeserializeOwned + Send + Unpin + 'static>(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    arn: &str,
) -> sqlx::Result<Option<S>> {
    let sql = format!("select settings from {} where arn = $1", kind.table());
    let settings: Option<Json<S>> = sqlx::query_scalar(&sql)
        .bind(arn)
        .fetch_optional(db)
        .await?;
    Ok(settings.map(|s| s.0))
}

pub async fn delete(db: impl PgExecutor<'_>, kind: SharedKind, key: &str) -> sqlx::Result<()> {
    let sql = format!("delete from {} where settings_key = $1", kind.table());
    sqlx::query(&sql).bind(key).execute(db).await?;
    Ok(())
}

/// Live channels other than `except` that use the configuration with these settings.
pub async fn count_users<S: Serialize>(
    db: impl PgExecutor<'_>,
    kind: SharedKind,
    settings: &S,
    except: uuid::Uuid,
) -> sqlx::Result<i64> {
    let sql = format!(
        "select count(*) from channels where deleted_at is null and id <> $1 and {}",
        kind.users_condition()
    );
    sqlx::query_scalar(&sql)
        .bind(except)
        .bind(Json(settings))
        .fetch_one(db)
        .await
}
