//! Queries on `channels`: the desired spec and the recorded status of every channel.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::channel::ChannelSpec;
use crate::domain::{ChannelOutputs, LastError, Phase};

const COLUMNS: &str = "id, tenant, name, spec, generation, observed_generation, phase, outputs, \
                       last_error, delete_after, created_at, updated_at, deleted_at, ingest_open";

#[derive(Debug, Clone, FromRow)]
pub struct ChannelRow {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub spec: Json<ChannelSpec>,
    pub generation: i64,
    pub observed_generation: i64,
    pub phase: Phase,
    pub outputs: Json<ChannelOutputs>,
    pub last_error: Option<Json<LastError>>,
    pub delete_after: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Whether the channel has its stream key (the live window's gate), null until provisioned.
    pub ingest_open: Option<bool>,
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
    pub phase: Option<Phase>,
    pub name_prefix: Option<&'a str>,
    pub include_deleted: bool,
    /// Keyset cursor: rows with a larger id. Ids are UUIDv7, so new rows sort last and a
    /// walk through the pages neither repeats nor skips rows while others are inserted.
    pub after: Option<Uuid>,
    pub limit: i64,
}

/// One page of channels in id order. Only the filters given are written into the statement, so
/// that each combination gets a plan of its own over the index shaped for it: live rows
/// (`deleted_at is null`, as the partial indexes say) by id, by (phase, id), by (tenant, id),
/// or by name for a prefix; history through the primary key and `channels_tenant_id`.
pub async fn list(db: impl PgExecutor<'_>, f: &ListFilter<'_>) -> sqlx::Result<Vec<ChannelRow>> {
    list_query("", f)
        .build_query_as()
        // A prefix becomes an index range only when the planner sees its value: no generic
        // plan (a prepared statement's, after a few runs) for those.
        .persistent(f.name_prefix.is_none())
        .fetch_all(db)
        .await
}

fn list_query<'a>(explain: &str, f: &ListFilter<'a>) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!(
        "{explain}select {COLUMNS} from channels where true"
    ));
    // History is listed when asked for, or when it is the phase asked for.
    if !f.include_deleted && f.phase != Some(Phase::Deleted) {
        query.push(" and deleted_at is null");
    }
    if let Some(tenant) = f.tenant {
        query.push(" and tenant = ").push_bind(tenant);
    }
    if let Some(phase) = f.phase {
        query.push(" and phase = ").push_bind(phase);
    }
    if let Some(prefix) = f.name_prefix {
        query
            .push(" and starts_with(name, ")
            .push_bind(prefix)
            .push(")");
    }
    if let Some(after) = f.after {
        query.push(" and id > ").push_bind(after);
    }
    query.push(" order by id limit ").push_bind(f.limit);
    query
}

/// `explain` (an EXPLAIN clause) of the statement [`list`] runs for `f`.
pub(super) async fn explain_list(
    db: impl PgExecutor<'_>,
    explain: &str,
    f: &ListFilter<'_>,
) -> sqlx::Result<serde_json::Value> {
    list_query(explain, f)
        .build_query_scalar()
        .persistent(false)
        .fetch_one(db)
        .await
}

/// Stores a new spec, bumps the generation and sets the phase.
pub async fn update_spec(
    db: impl PgExecutor<'_>,
    id: Uuid,
    spec: &ChannelSpec,
    phase: Phase,
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
        "update channels set phase = $3, delete_force = $2, attempts = 0, next_attempt_at = now()
         where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(force)
    .bind(Phase::Deleting)
    .fetch_one(db)
    .await
}

/// An operator's retry: the row is due now, with a fresh attempt count.
pub async fn retry_now(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "update channels
            set attempts = 0, next_attempt_at = now(),
                phase = case when phase <> $2 then phase
                             when outputs->>'channel_arn' is not null then $3
                             else $4 end
          where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(Phase::Failed)
    .bind(Phase::Updating)
    .bind(Phase::Pending)
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
                phase = case when phase in ($2, $3) then $4 else phase end
          where id = $1 returning {COLUMNS}"
    ))
    .bind(id)
    .bind(Phase::Ready)
    .bind(Phase::Failed)
    .bind(Phase::Updating)
    .fetch_one(db)
    .await
}

/// How many channels are in each phase (the metrics gauges): live rows counted from the index
/// `channels_live_phase_id`, history (`deleted`) read from its tally, which triggers keep exact
/// (migrations/20261202000020_history_indexes.sql), so a scrape never counts the history.
const COUNT_BY_PHASE: &str =
    "select phase, count(*) from channels where deleted_at is null group by phase
     union all
     select 'deleted', value from channel_tallies where name = 'deleted'";

pub async fn count_by_phase(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(Phase, i64)>> {
    sqlx::query_as(COUNT_BY_PHASE).fetch_all(db).await
}

/// Counted over the partial index `channels_needs_work` (the literal phases match it).
static COUNT_WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select count(*) from channels where phase in ({}) and next_attempt_at <= now()",
        Phase::sql_list(&Phase::NEEDS_WORK)
    )
});

/// Rows that need the reconciler and are due now.
pub async fn count_waiting(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(&COUNT_WAITING).fetch_one(db).await
}

/// `explain` (an EXPLAIN clause) of the two gauge queries: by phase, then waiting.
pub(super) async fn explain_gauges(
    db: &sqlx::PgPool,
    explain: &str,
) -> sqlx::Result<[serde_json::Value; 2]> {
    let by_phase = sqlx::query_scalar(&format!("{explain}{COUNT_BY_PHASE}"))
        .fetch_one(db)
        .await?;
    let waiting = sqlx::query_scalar(&format!("{explain}{}", *COUNT_WAITING))
        .fetch_one(db)
        .await?;
    Ok([by_phase, waiting])
}

/// A live channel's id, tenant and name, by the ARN of its IVS channel.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelByArn {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub channel_arn: String,
}

/// The live channels whose IVS channel is one of `arns`.
pub async fn live_by_arns(
    db: impl PgExecutor<'_>,
    arns: &[String],
) -> sqlx::Result<Vec<ChannelByArn>> {
    sqlx::query_as(
        "select id, tenant, name, outputs->>'channel_arn' as channel_arn from channels
          where deleted_at is null and outputs->>'channel_arn' = any($1)",
    )
    .bind(arns)
    .fetch_all(db)
    .await
}

/// Live channels other than `except` that bring this public key.
pub async fn count_caller_key_users(
    db: impl PgExecutor<'_>,
    public_key_pem: &str,
    except: Uuid,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "select count(*) from channels
          where deleted_at is null and id <> $1 and spec->>'playback_public_key_pem' = $2",
    )
    .bind(except)
    .bind(public_key_pem.trim())
    .fetch_one(db)
    .await
}

/// Ids of every channel not deleted.
pub async fn live_ids(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar("select id from channels where deleted_at is null")
        .fetch_all(db)
        .await
}

/// Channels in `ready` with an IVS channel and no worker on them: what the drift sweep checks.
#[derive(Debug, Clone, FromRow)]
pub struct ReadyChannel {
    pub id: Uuid,
    pub spec: Json<ChannelSpec>,
    pub outputs: Json<ChannelOutputs>,
}

/// `deleted_at is null` adds nothing to `phase = 'ready'` but lets the planner read the live
/// rows' (phase, id) index instead of the whole history.
pub async fn ready_unleased(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ReadyChannel>> {
    sqlx::query_as(
        "select id, spec, outputs from channels
          where phase = $1 and deleted_at is null
            and outputs->>'channel_arn' is not null and lease_token is null
          order by id",
    )
    .bind(Phase::Ready)
    .fetch_all(db)
    .await
}

/// Puts a drifted channel back to work, if it is still ready and unclaimed; true if it was.
pub async fn requeue_if_ready(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update channels set phase = $3, next_attempt_at = now()
          where id = $1 and phase = $2 and lease_token is null",
    )
    .bind(id)
    .bind(Phase::Ready)
    .bind(Phase::Updating)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Dev mode with a fresh embedded simulator: every live channel is provisioned anew, and the
/// shared resources the old simulator held are forgotten.
pub async fn reset_for_fresh_simulator(db: &mut sqlx::PgConnection) -> sqlx::Result<()> {
    sqlx::query("delete from recording_configurations")
        .execute(&mut *db)
        .await?;
    sqlx::query("delete from playback_keys")
        .execute(&mut *db)
        .await?;
    sqlx::query(
        "update channels set outputs = '{}', observed_generation = 0, attempts = 0, next_attempt_at = now(),
                phase = case when phase = $1 then $1 else $2 end
          where deleted_at is null",
    )
    .bind(Phase::Deleting)
    .bind(Phase::Pending)
    .execute(&mut *db)
    .await?;
    Ok(())
}
