//! The reconciler's queries on `channels`: claiming rows with a lease in one short statement,
//! and every later write fenced on the lease token, so a worker that lost its lease changes
//! nothing. These statements are the heart of the reconciler's concurrency; they live here with
//! the rest of the SQL so that the indexes and the statements shaped for them are read together.

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgArguments;
use sqlx::types::Json;
use sqlx::{Arguments, FromRow, PgExecutor, PgPool};
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
    /// The ingest gate last made true (stream key present), null before the first provisioning.
    pub ingest_open: Option<bool>,
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

/// When a live row falls due: at its next attempt in a claimable phase; a `ready` row once both
/// its next attempt and the earlier of its `delete_after` and its live window's next edge
/// (`window_due_at`) have passed. Written out with literal phases (the domain's list, in its
/// order) because the planner matches it to the expression of the index `channels_due`
/// (migrations/20261202000050_live_windows.sql) word for word, over the rows of that index's
/// predicate ([`DUE_ROWS`]).
static DUE_AT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(case when phase in ({claimable}) then next_attempt_at
               else greatest(next_attempt_at, least(delete_after, window_due_at)) end)",
        claimable = Phase::sql_list(&Phase::CLAIMABLE)
    )
});

/// The rows that can ever fall due: those needing work, and live ones with a `delete_after` or
/// a window edge ahead; never history. Said with `phase <> 'deleted'` rather than `deleted_at is null` (the same rows)
/// so that the claim matches no index but `channels_due`: the indexes over all live rows would
/// look as cheap to the planner on a small table, and read every live row on a large one.
static DUE_ROWS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "(phase in ({claimable})
          or ((delete_after is not null or window_due_at is not null) and phase <> '{deleted}'))",
        claimable = Phase::sql_list(&Phase::CLAIMABLE),
        deleted = Phase::Deleted.as_str()
    )
});

/// The claim statement: the rows due now, soonest first, not leased by a live worker. It reads
/// only due and leased rows (index `channels_due`), however long the history.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        "update channels c
            set lease_owner = $1,
                lease_token = gen_random_uuid(),
                lease_expires_at = now() + make_interval(secs => $2),
                phase = case when c.phase = $4 then $5 else c.phase end
          where c.id in (
                select id from channels
                 where {rows}
                   and {due} <= now()
                   and (lease_expires_at is null or lease_expires_at < now())
                 order by {due}
                 limit $3
                   for update skip locked)
      returning c.id, c.tenant, c.name, c.spec, c.generation, c.phase, c.outputs, c.delete_after,
                c.delete_force, c.attempts, c.lease_token, c.stream_key_rotation_requested_at,
                c.ingest_open",
        rows = *DUE_ROWS,
        due = *DUE_AT,
    )
});

fn claim_arguments(worker: &str, lease: Duration, limit: i64) -> sqlx::Result<PgArguments> {
    let mut arguments = PgArguments::default();
    arguments
        .add(worker.to_owned())
        .and_then(|()| arguments.add(lease.as_secs_f64()))
        .and_then(|()| arguments.add(limit))
        .and_then(|()| arguments.add(Phase::Pending))
        .and_then(|()| arguments.add(Phase::Provisioning))
        .map_err(sqlx::Error::Encode)?;
    Ok(arguments)
}

/// Claims up to `limit` rows that need work, in one statement committed before any AWS call.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    limit: i64,
) -> sqlx::Result<Vec<Claimed>> {
    sqlx::query_as_with(&CLAIM, claim_arguments(worker, lease, limit)?)
        .fetch_all(pool)
        .await
}

/// `explain` (an EXPLAIN clause) of the claim statement as [`claim`] runs it; it claims rows
/// if `explain` analyzes, so the caller runs it in a transaction it rolls back.
pub(super) async fn explain_claim(
    db: impl PgExecutor<'_>,
    explain: &str,
    limit: i64,
) -> sqlx::Result<serde_json::Value> {
    let arguments = claim_arguments("explain", Duration::from_secs(1), limit)?;
    sqlx::query_scalar_with(&format!("{explain}{}", *CLAIM), arguments)
        .fetch_one(db)
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
/// arrived meanwhile keeps the row `updating`, so it is picked up again. On any executor, so
/// that the reconciler can write it in one transaction with its audit event and webhook.
pub async fn finish_ready(
    db: impl sqlx::PgExecutor<'_>,
    row: &Claimed,
    outputs: &ChannelOutputs,
) -> Fenced {
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
    .execute(db)
    .await?;
    fenced(result, row.id)
}

/// The rotation requested at `requested_at` is done; a newer request (made meanwhile) stays.
pub async fn finish_stream_key_rotation(
    conn: &mut sqlx::PgConnection,
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
    .execute(&mut *conn)
    .await?;
    if result.rows_affected() == 0 {
        // Either the lease was lost or a newer request arrived; the fence below tells which.
        return lease_held(&mut *conn, row).await;
    }
    Ok(())
}

async fn lease_held(db: impl sqlx::PgExecutor<'_>, row: &Claimed) -> Fenced {
    let held: bool = sqlx::query_scalar(
        "select exists (select 1 from channels where id = $1 and lease_token = $2)",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .fetch_one(db)
    .await?;
    if held {
        Ok(())
    } else {
        Err(FenceError::LeaseLost(row.id))
    }
}

pub async fn finish_deleted(db: impl sqlx::PgExecutor<'_>, row: &Claimed) -> Fenced {
    let result = sqlx::query(
        "update channels
            set phase = $3, deleted_at = now(), last_error = null, attempts = 0,
                window_due_at = null, lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(Phase::Deleted)
    .execute(db)
    .await?;
    fenced(result, row.id)
}

/// Releases the row to be tried again at `next_attempt_at`, recording why; earlier if its live
/// window has an edge before then (a failed channel's key still closes on time), but a window
/// edge already past never cuts a backoff short.
pub async fn release(
    db: impl sqlx::PgExecutor<'_>,
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
                next_attempt_at = case when window_due_at > now() then least($6, window_due_at)
                                       else $6 end,
                lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(phase)
    .bind(last_error.map(Json))
    .bind(count_attempt)
    .bind(next_attempt_at)
    .execute(db)
    .await?;
    fenced(result, row.id)
}

/// The earliest next attempt among rows being worked on, or live-window edge; the literal phase
/// list matches the partial index `channels_needs_work`, which holds only those rows (never
/// history), and the edges are read from `channels_window_due`, which holds only rows with an
/// edge ahead.
static NEXT_DUE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select extract(epoch from least(
                (select min(next_attempt_at) from channels
                  where phase in ({}) and lease_token is null),
                (select min(greatest(next_attempt_at, window_due_at)) from channels
                  where window_due_at is not null and lease_token is null)
                ) - now())::float8",
        Phase::sql_list(&Phase::NEEDS_WORK)
    )
});

/// How long until the earliest deferred or backed-off row, or window edge, falls due (none:
/// `None`).
pub async fn until_next_due(pool: &PgPool) -> sqlx::Result<Option<Duration>> {
    let seconds: Option<f64> = sqlx::query_scalar(&NEXT_DUE).fetch_one(pool).await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.01))))
}

/// `explain` (an EXPLAIN clause) of the query [`until_next_due`] runs.
pub(super) async fn explain_next_due(
    db: impl PgExecutor<'_>,
    explain: &str,
) -> sqlx::Result<serde_json::Value> {
    sqlx::query_scalar(&format!("{explain}{}", *NEXT_DUE))
        .fetch_one(db)
        .await
}

/// Records the ingest gate the reconciler made true and the window's next edge, in the
/// transaction of the gate's audit event.
pub async fn save_ingest(
    conn: &mut sqlx::PgConnection,
    row: &Claimed,
    open: bool,
    window_due_at: Option<DateTime<Utc>>,
) -> Fenced {
    let result = sqlx::query(
        "update channels set ingest_open = $3, window_due_at = $4
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .bind(open)
    .bind(window_due_at)
    .execute(&mut *conn)
    .await?;
    fenced(result, row.id)
}

/// A `ready` row's window edge is done: the row goes back to waiting, its phase untouched (a
/// change that arrived meanwhile keeps it `updating`).
pub async fn finish_window_edge(db: impl PgExecutor<'_>, row: &Claimed) -> Fenced {
    let result = sqlx::query(
        "update channels
            set last_error = null, attempts = 0, next_attempt_at = now(),
                lease_owner = null, lease_token = null, lease_expires_at = null
          where id = $1 and lease_token = $2",
    )
    .bind(row.id)
    .bind(row.lease_token)
    .execute(db)
    .await?;
    fenced(result, row.id)
}
