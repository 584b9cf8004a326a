//! Queries of the operator console: its sessions (hashes of session tokens, bound to an API
//! key) and the read-only summaries its pages show (overview counts, failing channels, the
//! webhook deliveries about a channel). Each is index-backed.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use super::api_keys::ApiKeyRow;
use crate::domain::{LastError, Phase};

/// The notification channel a trigger signals on every channel insert and phase change.
pub const CHANNELS_CHANNEL: &str = "console_channels";

pub async fn insert_session(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    api_key_id: Uuid,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into console_sessions (token_hash, api_key_id, expires_at) values ($1, $2, $3)",
    )
    .bind(token_hash)
    .bind(api_key_id)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The API key behind a session that has not expired, while the key is not revoked.
pub async fn find_session(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(
        "select k.id, k.name, k.key_prefix, k.scopes, k.tenant, k.created_at, k.revoked_at
           from console_sessions s join api_keys k on k.id = s.api_key_id
          where s.token_hash = $1 and s.expires_at > now() and k.revoked_at is null",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

pub async fn delete_session(db: impl PgExecutor<'_>, token_hash: &[u8]) -> sqlx::Result<()> {
    sqlx::query("delete from console_sessions where token_hash = $1")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes up to `batch` expired sessions (each sign-in sweeps a few).
pub async fn prune_sessions(db: impl PgExecutor<'_>, batch: i64) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "delete from console_sessions where token_hash in (
            select token_hash from console_sessions where expires_at < now() limit $1)",
    )
    .bind(batch)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Live channels by phase, of one tenant or all (`channels_live_tenant_id` or
/// `channels_live_phase_id`).
const COUNT_BY_PHASE: &str = "select phase, count(*) from channels
      where deleted_at is null and ($1::text is null or tenant = $1) group by phase";

pub async fn count_by_phase(
    db: impl PgExecutor<'_>,
    tenant: Option<&str>,
) -> sqlx::Result<Vec<(Phase, i64)>> {
    sqlx::query_as(COUNT_BY_PHASE)
        .bind(tenant)
        .fetch_all(db)
        .await
}

/// Rows that need the reconciler and are due now, of one tenant or all.
/// Counted over the partial index `channels_needs_work` (the literal phases match it).
static COUNT_WAITING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "select count(*) from channels
          where phase in ({}) and next_attempt_at <= now() and ($1::text is null or tenant = $1)",
        Phase::sql_list(&Phase::NEEDS_WORK)
    )
});

pub async fn count_waiting(db: impl PgExecutor<'_>, tenant: Option<&str>) -> sqlx::Result<i64> {
    sqlx::query_scalar(&COUNT_WAITING)
        .bind(tenant)
        .fetch_one(db)
        .await
}

/// A failed channel with why and how often it was tried.
#[derive(Debug, Clone, FromRow)]
pub struct FailingChannel {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub last_error: Option<Json<LastError>>,
    pub attempts: i32,
    pub updated_at: DateTime<Utc>,
}

const FAILING: &str = "select id, tenant, name, last_error, attempts, updated_at from channels
      where phase = $1 and deleted_at is null and ($2::text is null or tenant = $2)
      order by id desc limit $3";

/// The newest failed live channels (`channels_live_phase_id`, read backwards).
pub async fn failing(
    db: impl PgExecutor<'_>,
    tenant: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<FailingChannel>> {
    sqlx::query_as(FAILING)
        .bind(Phase::Failed)
        .bind(tenant)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// A delivery of an event about one channel.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelDelivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    pub url: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// The newest deliveries of events about a channel (`webhook_events_channel`), to endpoints the
/// caller may see (`tenant` given: that tenant's endpoints only).
pub async fn channel_deliveries(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    tenant: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<ChannelDelivery>> {
    sqlx::query_as(
        "select d.id, d.endpoint_id, e.url, ev.type as event_type, d.status, d.attempts, d.created_at
           from webhook_events ev
           join webhook_deliveries d on d.event_id = ev.id
           join webhook_endpoints e on e.id = d.endpoint_id
          where ev.channel_id = $1 and ($2::text is null or e.tenant = $2)
          order by ev.created_at desc, d.seq desc limit $3",
    )
    .bind(channel_id)
    .bind(tenant)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Endpoints whose deliveries are failing or that the service disabled, of one tenant or all.
pub async fn failing_endpoints(
    db: impl PgExecutor<'_>,
    tenant: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<super::webhooks::EndpointRow>> {
    sqlx::query_as(&format!(
        "select {} from webhook_endpoints
          where (failing_since is not null or disabled_reason is not null)
            and ($1::text is null or tenant = $1)
          order by id limit $2",
        super::webhooks::ENDPOINT_COLUMNS
    ))
    .bind(tenant)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A page of a channel's audit trail, newest first (the channel page).
pub async fn recent_events(
    db: impl PgExecutor<'_>,
    channel_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<super::events::EventRow>> {
    sqlx::query_as(
        "select id, channel_id, at, actor, kind, details from channel_events
          where channel_id = $1 order by id desc limit $2",
    )
    .bind(channel_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The current phase of these channels (a page's live updates start with them).
pub async fn phases_of(
    db: impl PgExecutor<'_>,
    ids: &[Uuid],
) -> sqlx::Result<Vec<(Uuid, String, String, Phase)>> {
    sqlx::query_as("select id, tenant, name, phase from channels where id = any($1)")
        .bind(ids)
        .fetch_all(db)
        .await
}

/// `explain` (an EXPLAIN clause) of the overview's three statements on `channels`, for
/// `tenant`: by phase, waiting, failing.
pub(super) async fn explain_overview(
    db: &sqlx::PgPool,
    explain: &str,
    tenant: Option<&str>,
) -> sqlx::Result<[serde_json::Value; 3]> {
    let by_phase = sqlx::query_scalar(&format!("{explain}{COUNT_BY_PHASE}"))
        .bind(tenant)
        .fetch_one(db)
        .await?;
    let waiting = sqlx::query_scalar(&format!("{explain}{}", *COUNT_WAITING))
        .bind(tenant)
        .fetch_one(db)
        .await?;
    let failing = sqlx::query_scalar(&format!("{explain}{FAILING}"))
        .bind(Phase::Failed)
        .bind(tenant)
        .bind(20_i64)
        .fetch_one(db)
        .await?;
    Ok([by_phase, waiting, failing])
}
