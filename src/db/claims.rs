//! The reconciler's queries on `channels`: claiming rows with a lease in one short statement,
//! and every later write fenced on the lease token, so a worker that lost its lease changes
//! nothing. These statements are the heart of the reconciler's concurrency; they live here with
//! the rest of the SQL so that the indexes and the statements shaped for them are read together.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::domain::channel::ChannelSpec;
use crate::domain::{ChannelOutputs, LastError, Phase};

/// A channel row a worker holds the lease on.
#[derive(Debug, Clone, FromRow)]
pub struct Claimed {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub spec: Json<ChannelSpec>,
    pub generation: i64,
    pub phase: Phase,
    pub outputs: Json<ChannelOutputs>,
    pub delete_after: Option<DateTime<Utc>>,
    pub delete_force: bool,
    pub attempts: i32,
    pub lease_token: Uuid,
    /// A stream-key rotation the API recorded and the reconciler has not done yet.
    pub stream_key_rotation_requested_at: Option<DateTime<Utc>>,
}

/// The notification channel a trigger signals when a row needs work.
pub const WORK_CHANNEL: &str = "channel_work";

/// Why a fenced write did not happen.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// The row's lease was taken over by another worker: drop this attempt's result.
    #[error("lost the lease on channel {0}")]
    LeaseLost(Uuid),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

type Fenced = Result<(), FenceError>;

/// The claim statement. The phase list is written out as literals (from the domain's list) so
/// the planner can match the partial index `channels_claimable`.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update channels c
            set lease_owner = $1,
                lease_token = gen_random_uuid(),
                lease_expires_at = now() + make_interval(secs => $2),
                phase = case when c.phase = $4 then $5 else c.phase end
          where c.id in (
                select id from channels
                 where next_attempt_at <= now()
                   and (lease_expires_at is null or lease_expires_at < now())
                   and (phase in ({claimable})
                        or (delete_after <= now() and phase <> $6))
                 order by next_attempt_at
                 limit $3
                   for update skip locked)
      returning c.id, c.tenant, c.name, c.spec, c.generation, c.phase, c.outputs, c.delete_after,
                c.delete_force, c.attempts, c.lease_token, c.stream_key_rotation_requested_at",
        claimable = Phase::sql_list(&Phase::CLAIMABLE)
    )
});

/// Claims up to `limit` rows that need work, in one statement committed before any AWS call.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as(&CLAIM)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .bind(limit)
        .bind(Phase::Pending)
        .bind(Phase::Provisioning)
        .bind(Phase::Deleted)
        .fetch_all(pool)
        .await
}

fn fenced(result: sqlx::postgres::PgQueryResult, id: Uuid) -> Fenced {
    if result.rows_affected() == 0 {
        Err(FenceError::LeaseLost(id))
    } else {
        Ok(())
    }
}

pub async fn extend_lease(pool: &PgPool, row: &Claimed, lease: Duration) -> Fenced {
    let result = sqlx::query(
        "update channels set lease_expires_at = now() + make_interval(secs => $3) where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?;
    fenced(result, row.id)
}

/// Saves outputs the moment they are known (above all the channel ARN right after CreateChannel).
pub async fn save_outputs(pool: &PgPool, row: &Claimed, outputs: &ChannelOutputs) -> Fenced {
    let result = sqlx::query("update channels set outputs = $3 where id = $1 and lease_token = $2")
        .bind(row.id)
        .bind(row.lease_token)
        .bind(Json(outputs))
        .execute(pool)
        .await?;
    fenced(result, row.id)
}

pub async fn set_phase(pool: &PgPool, row: &Claimed, phase: Phase) -> Fenced {
    let result = sqlx::query("update channels set phase = $3 where id = $1 and lease_token = $2")
        .bind(row.id)
        .bind(row.lease_token)
        .bind(phase)
        .execute(pool)
        .await?;
    fenced(result, row.id)
}

/// The claimed generation is now true in AWS. A change (or a stream-key rotation request) that
/// arrived meanwhile keeps the row `updating`, so it is picked up again.
pub async fn finish_ready(pool: &PgPool, row: &Claimed, outputs: &ChannelOutputs) -> Fenced {
    let result = sqlx::query(
        "update channels
            set phase = case when generation = $3 and stream_key_rotation_requested_at is null
                              then $5 else $6 end,
                observed_generation = greatest(observed_generation, $3),
                outputs = $4, last_error = null, attempts = 0, next_attempt_at = now(),
                lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(row.generation)
    .bind(Json(outputs))
    .bind(Phase::Ready)
    .bind(Phase::Updating)
    .execute(pool)
    .await?;
    fenced(result, row.id)
}

/// The rotation requested at `requested_at` is done; a newer request (made meanwhile) stays.
pub async fn finish_stream_key_rotation(
    pool: &PgPool,
    row: &Claimed,
    requested_at: DateTime<Utc>,
) -> Fenced {
    let result = sqlx::query(
        "update channels set stream_key_rotation_requested_at = null
          where id = $1 and lease_token = $2 and stream_key_rotation_requested_at = $3",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(requested_at)
    .execute(pool)
    .await?;
    if result.rows_affected() == 0 {
        // Either the lease was lost or a newer request arrived; the fence below tells which.
        return lease_held(pool, row).await;
    }
    Ok(())
}

async fn lease_held(pool: &PgPool, row: &Claimed) -> Fenced {
    let held: bool = sqlx::query_scalar(
        "select exists (select 1 from channels where id = $1 and lease_token = $2)",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .fetch_one(pool)
    .await?;
    if held {
        Ok(())
    } else {
        Err(FenceError::LeaseLost(row.id))
    }
}

pub async fn finish_deleted(pool: &PgPool, row: &Claimed) -> Fenced {
    let result = sqlx::query(
        "update channels
            set phase = $3, deleted_at = now(), last_error = null, attempts = 0,
                lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(Phase::Deleted)
    .execute(pool)
    .await?;
    fenced(result, row.id)
}

/// Releases the row to be tried again at `next_attempt_at`, recording why.
pub async fn release(
    pool: &PgPool,
    row: &Claimed,
    phase: Option<Phase>,
    last_error: Option<&LastError>,
    count_attempt: bool,
    next_attempt_at: DateTime<Utc>,
) -> Fenced {
    let result = sqlx::query(
        "update channels
            set phase = coalesce($3, phase),
                last_error = coalesce($4, last_error),
                attempts = attempts + case when $5 then 1 else 0 end,
                next_attempt_at = $6,
                lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(phase)
    .bind(last_error.map(Json))
    .bind(count_attempt)
    .bind(next_attempt_at)
    .execute(pool)
    .await?;
    fenced(result, row.id)
}

static NEXT_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select extract(epoch from min(next_attempt_at) - now())::float8 from channels
          where phase in ({}) and lease_token is null",
        Phase::sql_list(&Phase::NEEDS_WORK)
    )
});

/// How long until the earliest deferred or backed-off row falls due (none: `None`).
pub async fn until_next_due(pool: &PgPool) -> sqlx::Result<Option<Duration>> {
    let seconds: Option<f64> = sqlx::query_scalar(&NEXT_DUE).fetch_one(pool).await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.01))))
}
