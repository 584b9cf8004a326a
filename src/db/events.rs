//! Queries on `channel_events`, the audit trail: who did what to a channel, and when.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::domain::EventKind;
use crate::domain::broadcast::Audit;

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub channel_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: EventKind,
    pub details: Json<Value>,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    actor: &str,
    kind: EventKind,
    details: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into channel_events (channel_id, actor, kind, details) values ($1, $2, $3, $4)",
    )
    .bind(channel_id)
    .bind(actor)
    .bind(kind)
    .bind(Json(details))
    .execute(db)
    .await?;
    Ok(())
}

/// Inserts an entry that happens once per `audit.once_key` on the channel; `false` when the key
/// was written before (the unique index `channel_events_once` decides, across transactions).
pub async fn insert_once(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    actor: &str,
    audit: &Audit,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into channel_events (channel_id, actor, kind, details, once_key)
         values ($1, $2, $3, $4, $5)
         on conflict (channel_id, once_key) where once_key is not null do nothing",
    )
    .bind(channel_id)
    .bind(actor)
    .bind(audit.kind)
    .bind(Json(&audit.details))
    .bind(&audit.once_key)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A page of a channel's events, oldest first, after the event id `after`.
pub async fn page(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(
        "select id, channel_id, at, actor, kind, details from channel_events
         where channel_id = $1 and id > coalesce($2, 0)
         order by id limit $3",
    )
    .bind(channel_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
