//! The gap-filling sweep's queries: which channels to visit next (round robin over live
//! channels and those deleted within the lookback, the least recently swept first), what is
//! already known about their sessions and recordings (so IVS and S3 are asked only about the
//! rest), and when each was swept.

use std::collections::HashSet;

use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use super::broadcasts::BroadcastChannel;

/// A channel to sweep: its identity as the facts keep it, and its recording bucket if any.
#[derive(Debug, Clone, FromRow)]
pub struct SweepChannel {
    pub id: Uuid,
    pub tenant: String,
    pub arn: String,
    pub bucket: Option<String>,
}

impl SweepChannel {
    pub fn broadcast_channel(&self) -> BroadcastChannel {
        BroadcastChannel {
            id: self.id,
            tenant: self.tenant.clone(),
            arn: self.arn.clone(),
        }
    }
}

/// Live channels in sweep order (index `channels_broadcast_sweep`) and recently deleted ones
/// (a range of `channels_deleted_at`), the least recently swept first.
const NEXT: &str = "
    select id, tenant, arn, bucket from (
        (select id, tenant, outputs ->> 'channel_arn' as arn,
                spec -> 'recording' ->> 's3_bucket_name' as bucket, broadcasts_swept_at
           from channels
          where deleted_at is null and outputs ->> 'channel_arn' is not null
          order by broadcasts_swept_at nulls first, id
          limit $1)
        union all
        (select id, tenant, outputs ->> 'channel_arn',
                spec -> 'recording' ->> 's3_bucket_name', broadcasts_swept_at
           from channels
          where deleted_at > now() - make_interval(secs => $2)
            and outputs ->> 'channel_arn' is not null)
    ) as due
    order by broadcasts_swept_at nulls first, id
    limit $1";

/// Up to `limit` channels to sweep now.
pub async fn next(
    db: impl PgExecutor<'_>,
    limit: i64,
    lookback: std::time::Duration,
) -> sqlx::Result<Vec<SweepChannel>> {
    sqlx::query_as(NEXT)
        .bind(limit)
        .bind(lookback.as_secs_f64())
        .fetch_all(db)
        .await
}

/// `explain` (an EXPLAIN clause) of [`next`].
pub(super) async fn explain_next(
    db: impl PgExecutor<'_>,
    explain: &str,
    limit: i64,
) -> sqlx::Result<serde_json::Value> {
    sqlx::query_scalar(&format!("{explain}{NEXT}"))
        .bind(limit)
        .bind(86_400.0_f64)
        .fetch_one(db)
        .await
}

pub async fn mark_swept(db: impl PgExecutor<'_>, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("update channels set broadcasts_swept_at = now() where id = any($1)")
        .bind(ids)
        .execute(db)
        .await
        .map(drop)
}

/// Which of `stream_ids` are stored with their end: nothing left to learn about them.
pub async fn ended_sessions(
    db: impl PgExecutor<'_>,
    stream_ids: &[String],
) -> sqlx::Result<HashSet<String>> {
    let ended: Vec<String> = sqlx::query_scalar(
        "select stream_id from stream_sessions
          where stream_id = any($1) and started_at is not null and ended_at is not null",
    )
    .bind(stream_ids)
    .fetch_all(db)
    .await?;
    Ok(ended.into_iter().collect())
}

/// Which of the channel's `recording_ids` are complete: failed, or ready with the metadata's
/// renditions.
pub async fn complete_recordings(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    recording_ids: &[String],
) -> sqlx::Result<HashSet<String>> {
    let complete: Vec<String> = sqlx::query_scalar(
        "select recording_id from recordings
          where channel_id = $1 and recording_id = any($2)
            and (status = 'failed' or (status = 'ready' and renditions is not null))",
    )
    .bind(channel_id)
    .bind(recording_ids)
    .fetch_all(db)
    .await?;
    Ok(complete.into_iter().collect())
}
