//! Broadcast facts: stream sessions, recordings, the IVS events already applied (dedupe by the
//! EventBridge id) and the queue messages set aside. The intake engine and the gap-filling sweep
//! both record facts through [`record_session_fact`] and [`record_recording_fact`], which merge
//! a fact into its row whatever order facts arrive in and write the audit entries it earns
//! (each once, with its webhook) in the caller's transaction.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::broadcast::{
    FactSource, HealthChange, RecordingFact, RecordingState, RecordingStatus, Rendition,
    SessionFact, SessionState, StreamError,
};
use crate::domain::ivs_event::DetailType;

/// The channel a fact is about, as the facts keep it (they outlive the channel's row).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct BroadcastChannel {
    pub id: Uuid,
    pub tenant: String,
    pub arn: String,
}

const CHANNEL_BY_ARN: &str = "select id, tenant, outputs ->> 'channel_arn' as arn from channels
     where outputs ->> 'channel_arn' = $1 order by id desc limit 1";

/// The service's channel with this IVS ARN, deleted ones included (late events of a deleted
/// channel are still its history); `None` for a channel that is not the service's.
pub async fn channel_by_arn(
    db: impl PgExecutor<'_>,
    arn: &str,
) -> sqlx::Result<Option<BroadcastChannel>> {
    sqlx::query_as(CHANNEL_BY_ARN)
        .bind(arn)
        .fetch_optional(db)
        .await
}

/// Records that the event `id` is being applied; `false` when it was applied before (a
/// duplicate delivery), in which case the caller applies nothing. Inside the effect's
/// transaction, so a rollback forgets both, and a concurrent delivery of the same event waits
/// for this one and then sees it.
pub async fn mark_applied(
    db: impl PgExecutor<'_>,
    id: &str,
    detail_type: DetailType,
    channel_id: Uuid,
    event_time: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into ivs_events (id, detail_type, channel_id, event_time) values ($1, $2, $3, $4)
         on conflict (id) do nothing",
    )
    .bind(id)
    .bind(detail_type.as_str())
    .bind(channel_id)
    .bind(event_time)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Merges a session fact into the session of its stream id (creating it), then writes the
/// `stream_started` / `stream_ended` audit entries the merged session earns, each once per
/// stream, with their webhooks: on `conn`, inside the caller's transaction. Start is the
/// earliest start stated, end the latest end, health changes and errors the union (at most the
/// 200 latest of each), the viewer peak the largest.
pub async fn record_session_fact(
    conn: &mut PgConnection,
    channel: &BroadcastChannel,
    fact: &SessionFact,
    source: FactSource,
) -> sqlx::Result<SessionState> {
    let (stream_id, started_at, ended_at): (String, Option<DateTime<Utc>>, Option<DateTime<Utc>>) =
        sqlx::query_as(
            "insert into stream_sessions as s (id, channel_id, tenant, channel_arn, stream_id,
                    started_at, ended_at, health_changes, error_events, viewer_peak)
             values ($1, $2, $3, $4, $5, $6, $7, merge_broadcast_facts('[]', $8), merge_broadcast_facts('[]', $9), $10)
             on conflict (stream_id) do update set
                started_at = least(s.started_at, excluded.started_at),
                ended_at = greatest(s.ended_at, excluded.ended_at),
                health_changes = merge_broadcast_facts(s.health_changes, excluded.health_changes),
                error_events = merge_broadcast_facts(s.error_events, excluded.error_events),
                viewer_peak = greatest(s.viewer_peak, excluded.viewer_peak),
                updated_at = now()
             returning stream_id, started_at, ended_at",
        )
        .bind(Uuid::now_v7())
        .bind(channel.id)
        .bind(&channel.tenant)
        .bind(&channel.arn)
        .bind(&fact.stream_id)
        .bind(fact.started_at)
        .bind(fact.ended_at)
        .bind(Json(&fact.health))
        .bind(Json(&fact.errors))
        .bind(fact.viewer_peak)
        .fetch_one(&mut *conn)
        .await?;
    let state = SessionState {
        stream_id,
        started_at,
        ended_at,
    };
    for audit in state.audits(source) {
        super::webhooks::record_channel_event_once(&mut *conn, channel.id, source.actor(), &audit)
            .await?;
    }
    Ok(state)
}

/// Merges a recording fact into the recording of its id on its channel (creating it), then
/// writes the `recording_ready` / `recording_failed` audit entry it earns, once per recording,
/// with its webhook: on `conn`, inside the caller's transaction. The status only moves forward
/// (`recording` → `ready` → `failed`, whatever order facts arrive in), start is the earliest,
/// end the latest, duration the largest, stream ids the union, and every location the first one
/// stated.
pub async fn record_recording_fact(
    conn: &mut PgConnection,
    channel: &BroadcastChannel,
    fact: &RecordingFact,
    source: FactSource,
) -> sqlx::Result<RecordingState> {
    let row: MergedRecording = sqlx::query_as(
        "insert into recordings as r (id, channel_id, tenant, channel_arn, recording_id, status,
                reason, started_at, ended_at, duration_ms, bucket, prefix, master_playlist_key,
                byte_range_playlist_key, renditions, thumbnails_prefix, stream_ids, recording_session_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
         on conflict (channel_id, recording_id) do update set
            status = case when array_position(array['recording', 'ready', 'failed'], excluded.status)
                             > array_position(array['recording', 'ready', 'failed'], r.status)
                          then excluded.status else r.status end,
            reason = coalesce(r.reason, excluded.reason),
            started_at = least(r.started_at, excluded.started_at),
            ended_at = greatest(r.ended_at, excluded.ended_at),
            duration_ms = greatest(r.duration_ms, excluded.duration_ms),
            bucket = coalesce(r.bucket, excluded.bucket),
            prefix = coalesce(r.prefix, excluded.prefix),
            master_playlist_key = coalesce(r.master_playlist_key, excluded.master_playlist_key),
            byte_range_playlist_key = coalesce(r.byte_range_playlist_key, excluded.byte_range_playlist_key),
            renditions = coalesce(r.renditions, excluded.renditions),
            thumbnails_prefix = coalesce(r.thumbnails_prefix, excluded.thumbnails_prefix),
            stream_ids = array(select distinct unnest(r.stream_ids || excluded.stream_ids) order by 1),
            recording_session_id = coalesce(r.recording_session_id, excluded.recording_session_id),
            updated_at = now()
         returning recording_id, status, reason, bucket, prefix, master_playlist_key, duration_ms",
    )
    .bind(Uuid::now_v7())
    .bind(channel.id)
    .bind(&channel.tenant)
    .bind(&channel.arn)
    .bind(&fact.recording_id)
    .bind(fact.status)
    .bind(&fact.reason)
    .bind(fact.started_at)
    .bind(fact.ended_at)
    .bind(fact.duration_ms)
    .bind(&fact.bucket)
    .bind(&fact.prefix)
    .bind(&fact.master_playlist_key)
    .bind(&fact.byte_range_playlist_key)
    .bind(fact.renditions.as_ref().map(Json))
    .bind(&fact.thumbnails_prefix)
    .bind(&fact.stream_ids)
    .bind(&fact.recording_session_id)
    .fetch_one(&mut *conn)
    .await?;
    let state = RecordingState {
        recording_id: row.recording_id,
        status: row.status,
        reason: row.reason,
        bucket: row.bucket,
        prefix: row.prefix,
        master_playlist_key: row.master_playlist_key,
        duration_ms: row.duration_ms,
    };
    for audit in state.audits(source) {
        super::webhooks::record_channel_event_once(&mut *conn, channel.id, source.actor(), &audit)
            .await?;
    }
    Ok(state)
}

#[derive(FromRow)]
struct MergedRecording {
    recording_id: String,
    status: RecordingStatus,
    reason: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    master_playlist_key: Option<String>,
    duration_ms: Option<i64>,
}

/// Keeps a message that is not an IVS event the service can read; `false` when this SQS
/// message was kept before (a redelivery). `body` must already be redacted.
pub async fn set_aside(
    db: impl PgExecutor<'_>,
    message_id: &str,
    reason: &str,
    body: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "insert into ivs_event_rejects (message_id, reason, body) values ($1, $2, $3)
         on conflict (message_id) do nothing",
    )
    .bind(message_id)
    .bind(reason)
    .bind(body)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// A message set aside.
#[derive(Debug, Clone, FromRow)]
pub struct RejectRow {
    pub id: i64,
    pub message_id: String,
    pub reason: String,
    pub body: String,
    pub received_at: DateTime<Utc>,
}

/// The latest messages set aside, newest first.
pub async fn rejects(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<RejectRow>> {
    sqlx::query_as(
        "select id, message_id, reason, body, received_at from ivs_event_rejects
          order by id desc limit $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Deletes up to `batch` applied-event records and set-aside messages older than `before`
/// (a duplicate cannot arrive after SQS's retention); returns how many went.
pub async fn prune(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    batch: i64,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "with events as (
            delete from ivs_events where id in
              (select id from ivs_events where received_at < $1 order by received_at limit $2)
            returning 1),
         rejects as (
            delete from ivs_event_rejects where id in
              (select id from ivs_event_rejects where received_at < $1 order by received_at limit $2)
            returning 1)
         select (select count(*) from events) + (select count(*) from rejects)",
    )
    .bind(before)
    .bind(batch)
    .fetch_one(db)
    .await;
    done.map(|row: sqlx::postgres::PgRow| sqlx::Row::get::<i64, _>(&row, 0) as u64)
}

/// A session as the API lists it.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub tenant: String,
    pub channel_arn: String,
    pub stream_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub health_changes: Json<Vec<HealthChange>>,
    pub error_events: Json<Vec<StreamError>>,
    pub viewer_peak: Option<i64>,
    pub listed_at: DateTime<Utc>,
}

/// A recording as the API lists it.
#[derive(Debug, Clone, FromRow)]
pub struct RecordingRow {
    pub id: Uuid,
    pub channel_id: Uuid,
    pub tenant: String,
    pub channel_arn: String,
    pub recording_id: String,
    pub status: RecordingStatus,
    pub reason: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_ms: Option<i64>,
    pub bucket: Option<String>,
    pub prefix: Option<String>,
    pub master_playlist_key: Option<String>,
    pub byte_range_playlist_key: Option<String>,
    pub renditions: Option<Json<Vec<Rendition>>>,
    pub thumbnails_prefix: Option<String>,
    pub stream_ids: Vec<String>,
    pub recording_session_id: Option<String>,
    pub listed_at: DateTime<Utc>,
}

const SESSION_COLUMNS: &str = "id, channel_id, tenant, channel_arn, stream_id, started_at, ended_at, \
     health_changes, error_events, viewer_peak, listed_at";
const RECORDING_COLUMNS: &str = "id, channel_id, tenant, channel_arn, recording_id, status, reason, \
     started_at, ended_at, duration_ms, bucket, prefix, master_playlist_key, byte_range_playlist_key, \
     renditions, thumbnails_prefix, stream_ids, recording_session_id, listed_at";

/// Which sessions or recordings a page lists, newest first (by `listed_at`: the start when
/// known, else the end, else when first seen; then by id).
#[derive(Debug, Clone, Default)]
pub struct FactFilter<'a> {
    pub channel_id: Option<Uuid>,
    pub tenant: Option<&'a str>,
    /// Recordings only.
    pub status: Option<RecordingStatus>,
    /// Only those listed at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Keyset cursor: the (listed_at, id) of the last row of the previous page.
    pub before: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// Only the filters given are written into the statement, so each combination is planned over
/// the index shaped for it (channel, tenant, status, tenant and status, or none).
fn page_query<'a>(
    explain: &str,
    table: &str,
    columns: &str,
    f: &FactFilter<'a>,
) -> QueryBuilder<'a, Postgres> {
    let mut query = QueryBuilder::new(format!("{explain}select {columns} from {table} where true"));
    if let Some(channel) = f.channel_id {
        query.push(" and channel_id = ").push_bind(channel);
    }
    if let Some(tenant) = f.tenant {
        query.push(" and tenant = ").push_bind(tenant);
    }
    if let Some(status) = f.status {
        query.push(" and status = ").push_bind(status);
    }
    if let Some(since) = f.since {
        query.push(" and listed_at >= ").push_bind(since);
    }
    if let Some((at, id)) = f.before {
        query
            .push(" and (listed_at, id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    query
        .push(" order by listed_at desc, id desc limit ")
        .push_bind(f.limit);
    query
}

/// A page of sessions, newest first.
pub async fn sessions(
    db: impl PgExecutor<'_>,
    f: &FactFilter<'_>,
) -> sqlx::Result<Vec<SessionRow>> {
    page_query("", "stream_sessions", SESSION_COLUMNS, f)
        .build_query_as()
        .fetch_all(db)
        .await
}

/// A page of recordings, newest first.
pub async fn recordings(
    db: impl PgExecutor<'_>,
    f: &FactFilter<'_>,
) -> sqlx::Result<Vec<RecordingRow>> {
    page_query("", "recordings", RECORDING_COLUMNS, f)
        .build_query_as()
        .fetch_all(db)
        .await
}

/// The channel's session that started and has not ended, the latest if several.
pub async fn open_session(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(&format!(
        "select {SESSION_COLUMNS} from stream_sessions
          where channel_id = $1 and ended_at is null and started_at is not null
          order by started_at desc limit 1"
    ))
    .bind(channel_id)
    .fetch_optional(db)
    .await
}

/// `explain` (an EXPLAIN clause) of the statement [`sessions`] or [`recordings`] runs for `f`.
pub(super) async fn explain_page(
    db: impl PgExecutor<'_>,
    explain: &str,
    recordings: bool,
    f: &FactFilter<'_>,
) -> sqlx::Result<Value> {
    let (table, columns) = if recordings {
        ("recordings", RECORDING_COLUMNS)
    } else {
        ("stream_sessions", SESSION_COLUMNS)
    };
    page_query(explain, table, columns, f)
        .build_query_scalar()
        .persistent(false)
        .fetch_one(db)
        .await
}

/// `explain` of the ARN lookup every event makes.
pub(super) async fn explain_channel_by_arn(
    db: impl PgExecutor<'_>,
    explain: &str,
    arn: &str,
) -> sqlx::Result<Value> {
    sqlx::query_scalar(&format!("{explain}{CHANNEL_BY_ARN}"))
        .bind(arn)
        .persistent(false)
        .fetch_one(db)
        .await
}
