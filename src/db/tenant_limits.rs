//! Queries for fair share between tenants: each tenant's own limits (`tenant_limits`) and their
//! audit trail (`tenant_limit_events`), the counts and transaction-scoped advisory locks that
//! make the channel quota and the account-quota guard exact under concurrency, and what IVS said
//! when the account was full (`ivs_channel_quota_observations`).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgExecutor};

use crate::domain::EventKind;
use crate::domain::limits::TenantLimitOverrides;

/// Every live channel holds (or is about to hold) an IVS channel: `deleted_at` is set only once
/// the reconciler has deleted it, so `deleting` channels still count.
const LIVE: &str = "deleted_at is null";

#[derive(Debug, Clone, FromRow)]
struct Row {
    max_live_channels: Option<i32>,
    requests_per_second: Option<i32>,
    burst: Option<i32>,
    token_requests_per_second: Option<i32>,
    token_burst: Option<i32>,
    updated_at: DateTime<Utc>,
    updated_by: String,
}

/// A tenant's stored limits and who set them last.
#[derive(Debug, Clone)]
pub struct TenantLimitsRow {
    pub overrides: TenantLimitOverrides,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

impl From<Row> for TenantLimitsRow {
    fn from(row: Row) -> Self {
        // The columns' checks keep every value non-negative.
        let unsigned = |v: Option<i32>| v.map(i32::unsigned_abs);
        TenantLimitsRow {
            overrides: TenantLimitOverrides {
                max_live_channels: unsigned(row.max_live_channels),
                requests_per_second: unsigned(row.requests_per_second),
                burst: unsigned(row.burst),
                token_requests_per_second: unsigned(row.token_requests_per_second),
                token_burst: unsigned(row.token_burst),
            },
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

const COLUMNS: &str = "max_live_channels, requests_per_second, burst, token_requests_per_second, \
                       token_burst, updated_at, updated_by";

/// The tenant's own limits; `None` when it has none (every limit is the default).
pub async fn find(db: impl PgExecutor<'_>, tenant: &str) -> sqlx::Result<Option<TenantLimitsRow>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from tenant_limits where tenant = $1"
    ))
    .bind(tenant)
    .fetch_optional(db)
    .await?;
    Ok(row.map(TenantLimitsRow::from))
}

/// Like [`find`], locking the row (if any) for the rest of the transaction, so two concurrent
/// changes are audited in order.
pub async fn find_for_update(
    db: impl PgExecutor<'_>,
    tenant: &str,
) -> sqlx::Result<Option<TenantLimitsRow>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} from tenant_limits where tenant = $1 for update"
    ))
    .bind(tenant)
    .fetch_optional(db)
    .await?;
    Ok(row.map(TenantLimitsRow::from))
}

/// Stores the tenant's limits (all of them: `None` = the default).
pub async fn put(
    db: impl PgExecutor<'_>,
    tenant: &str,
    limits: &TenantLimitOverrides,
    actor: &str,
) -> sqlx::Result<TenantLimitsRow> {
    let signed = |v: Option<u32>| v.map(|v| i32::try_from(v).unwrap_or(i32::MAX));
    let row: Row = sqlx::query_as(&format!(
        "insert into tenant_limits (tenant, max_live_channels, requests_per_second, burst,
                                    token_requests_per_second, token_burst, updated_by)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (tenant) do update set
             max_live_channels = excluded.max_live_channels,
             requests_per_second = excluded.requests_per_second,
             burst = excluded.burst,
             token_requests_per_second = excluded.token_requests_per_second,
             token_burst = excluded.token_burst,
             updated_at = now(),
             updated_by = excluded.updated_by
         returning {COLUMNS}"
    ))
    .bind(tenant)
    .bind(signed(limits.max_live_channels))
    .bind(signed(limits.requests_per_second))
    .bind(signed(limits.burst))
    .bind(signed(limits.token_requests_per_second))
    .bind(signed(limits.token_burst))
    .bind(actor)
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

/// Records a change of a tenant's limits in its audit trail.
pub async fn insert_event(
    db: impl PgExecutor<'_>,
    tenant: &str,
    actor: &str,
    kind: EventKind,
    details: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into tenant_limit_events (tenant, actor, kind, details) values ($1, $2, $3, $4)",
    )
    .bind(tenant)
    .bind(actor)
    .bind(kind)
    .bind(Json(details))
    .execute(db)
    .await?;
    Ok(())
}

/// One entry of a tenant's limit audit trail.
#[derive(Debug, Clone, FromRow)]
pub struct LimitEventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: EventKind,
    pub details: Json<Value>,
}

/// The tenant's limit changes, oldest first.
pub async fn events(db: impl PgExecutor<'_>, tenant: &str) -> sqlx::Result<Vec<LimitEventRow>> {
    sqlx::query_as(
        "select id, at, actor, kind, details from tenant_limit_events where tenant = $1 order by id",
    )
    .bind(tenant)
    .fetch_all(db)
    .await
}

/// Serialises the creates of one tenant until the transaction ends, so that counting its live
/// channels and inserting one are a single step across every replica.
pub async fn lock_tenant_creates(db: impl PgExecutor<'_>, tenant: &str) -> sqlx::Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("tenant-channels:{tenant}"))
        .execute(db)
        .await
        .map(drop)
}

/// Takes the account's channel lock until the transaction ends: shared while the account is far
/// from full (creates do not wait for each other), exclusive near it (one create at a time,
/// counting exactly). An exclusive holder waits until every shared holder has committed.
pub async fn lock_account_creates(db: impl PgExecutor<'_>, exclusive: bool) -> sqlx::Result<()> {
    let statement = if exclusive {
        "select pg_advisory_xact_lock(hashtextextended($1, 0))"
    } else {
        "select pg_advisory_xact_lock_shared(hashtextextended($1, 0))"
    };
    sqlx::query(statement)
        .bind("account-channels")
        .execute(db)
        .await
        .map(drop)
}

/// The tenant's live channels: an index-only scan of `channels_live_tenant_name`.
pub async fn count_live(db: impl PgExecutor<'_>, tenant: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "select count(*) from channels where tenant = $1 and {LIVE}"
    ))
    .bind(tenant)
    .fetch_one(db)
    .await
}

/// Every live channel of every tenant (the same partial index, whole).
pub async fn count_live_all(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!("select count(*) from channels where {LIVE}"))
        .fetch_one(db)
        .await
}

/// How many channels the service held when IVS said the account was full, if it did within the
/// last `max_age_secs` seconds.
pub async fn ivs_full_at(db: impl PgExecutor<'_>, max_age_secs: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "select full_at_channels::bigint from ivs_channel_quota_observations
          where observed_at > now() - make_interval(secs => $1)",
    )
    .bind(max_age_secs as f64)
    .fetch_optional(db)
    .await
}

/// IVS refused a CreateChannel because the account is full: records how many IVS channels the
/// service holds now (live rows with an ARN), which the guard takes as the account's real
/// capacity from now on. Returns that number.
pub async fn record_ivs_full(db: impl PgExecutor<'_>, message: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(&format!(
        "insert into ivs_channel_quota_observations (id, full_at_channels, message)
         select true, count(*), $1 from channels
          where {LIVE} and outputs->>'channel_arn' is not null
         on conflict (id) do update set full_at_channels = excluded.full_at_channels,
                                        observed_at = now(), message = excluded.message
         returning full_at_channels::bigint"
    ))
    .bind(message)
    .fetch_one(db)
    .await
}

/// After IVS accepted a channel: the recorded observation is dropped once the service holds more
/// IVS channels than it says the account can (channels were deleted outside the service, or the
/// quota was raised). True when it was dropped. Costs nothing without an observation.
pub async fn forget_ivs_full_if_outgrown(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    let dropped = sqlx::query(&format!(
        "delete from ivs_channel_quota_observations
          where full_at_channels < (select count(*) from channels
                                     where {LIVE} and outputs->>'channel_arn' is not null)"
    ))
    .execute(db)
    .await?;
    Ok(dropped.rows_affected() > 0)
}
