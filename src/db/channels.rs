//! Queries on `channels`: the desired spec and the recorded status of every channel.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::channel::ChannelSpec;

const COLUMNS: &str = "id, tenant, name, spec, generation, observed_generation, phase, outputs, \
                       last_error, delete_after, created_at, updated_at, deleted_at";

#[derive(Debug, Clone, FromRow)]
pub struct ChannelRow {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub spec: Json<ChannelSpec>,
    pub generation: i64,
    pub observed_generation: i64,
    pub phase: String,
    pub outputs: Json<Value>,
    pub last_error: Option<Json<Value>>,
    pub delete_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Inserts a new channel unless a live one with the same (tenant, name) exists, in which case
/// it returns `None`. The partial unique index decides, so concurrent identical requests
/// create exactly one row.
pub async fn insert_if_absent(
    db: impl PgExecutor<'_>,
    id: Uuid,
    spec: &ChannelSpec,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!(
        "insert into channels (id, tenant, name, spec, delete_after) values ($1, $2, $3, $4, $5)
         on conflict (tenant, name) where deleted_at is null do nothing
         returning {COLUMNS}"
    ))
    .bind(id)
    .bind(&spec.tenant)
    .bind(&spec.name)
    .bind(Json(spec))
    .bind(spec.delete_after)
    .fetch_optional(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("select {COLUMNS} from channels where id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Like [`find`], but locks the row for the rest of the transaction.
pub async fn find_for_update(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from channels where id = $1 for update"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn find_live(
    db: impl PgExecutor<'_>,
    tenant: &str,
    name: &str,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from channels where tenant = $1 and name = $2 and deleted_at is null"
    ))
    .bind(tenant)
    .bind(name)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Default)]
pub struct ListFilter<'a> {
    pub tenant: Option<&'a str>,
    pub phase: Option<&'a str>,
    pub name_prefix: Option<&'a str>,
    pub include_deleted: bool,
    /// Keyset cursor: rows with a larger id. Ids are UUIDv7, so new rows sort last and a
    /// walk through the pages neither repeats nor skips rows while others are inserted.
    pub after: Option<Uuid>,
    pub limit: i64,
}

pub async fn list(db: impl PgExecutor<'_>, f: &ListFilter<'_>) -> sqlx::Result<Vec<ChannelRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from channels
         where ($1::text is null or tenant = $1)
           and ($2::text is null or phase = $2)
           and ($3::text is null or starts_with(name, $3))
           and ($4 or phase <> 'deleted' or $2::text = 'deleted')
           and ($5::uuid is null or id > $5)
         order by id limit $6"
    ))
    .bind(f.tenant)
    .bind(f.phase)
    .bind(f.name_prefix)
    .bind(f.include_deleted)
    .bind(f.after)
    .bind(f.limit)
    .fetch_all(db)
    .await
}

/// Stores a new spec, bumps the generation and sets the phase.
pub async fn update_spec(
    db: impl PgExecutor<'_>,
    id: Uuid,
    spec: &ChannelSpec,
    phase: &str,
) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "update channels set spec = $2, delete_after = $3, generation = generation + 1, phase = $4,
                attempts = 0, next_attempt_at = now()
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(Json(spec))
    .bind(spec.delete_after)
    .bind(phase)
    .fetch_one(db)
    .await
}

pub async fn mark_deleting(
    db: impl PgExecutor<'_>,
    id: Uuid,
    force: bool,
) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "update channels set phase = 'deleting', delete_force = $2, attempts = 0, next_attempt_at = now()
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(force)
    .fetch_one(db)
    .await
}

/// An operator's retry: the row is due now, with a fresh attempt count.
pub async fn retry_now(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "update channels
            set attempts = 0, next_attempt_at = now(),
                phase = case when phase <> 'failed' then phase
                             when outputs->>'channel_arn' is not null then 'updating'
                             else 'pending' end
          where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(db)
    .await
}

/// Records a stream-key rotation request and makes the row due now; the reconciler replaces
/// the key and clears the request. The generation stays: the spec did not change.
pub async fn request_stream_key_rotation(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "update channels
            set stream_key_rotation_requested_at = now(), attempts = 0, next_attempt_at = now(),
                phase = case when phase in ('ready', 'failed') then 'updating' else phase end
          where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .fetch_one(db)
    .await
}
