//! Webhook endpoints, the outbox of events, deliveries and their attempts.
//!
//! The outbox: [`record_channel_event`] writes the audit event and, for the kinds a booking
//! system hears, the webhook event and one delivery per matching endpoint, on the caller's
//! connection, so that it commits or rolls back with the state change that caused it. Delivery
//! workers [`claim`] due deliveries in one short statement (`FOR UPDATE SKIP LOCKED`, a lease,
//! at most N in flight per endpoint) and record each attempt fenced on the lease token; no
//! transaction is ever open across an HTTP call.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::domain::broadcast::Audit;
use crate::domain::webhook::{self, ChannelData, WebhookEventType};
use crate::domain::{ChannelOutputs, EventKind, Phase};

/// The notification channel a trigger signals when deliveries are written.
pub const WORK_CHANNEL: &str = "webhook_work";

pub(super) const ENDPOINT_COLUMNS: &str = "id, tenant, url, description, event_types, disabled, disabled_reason, \
     disabled_at, previous_secret_expires_at, created_at, updated_at, last_success_at, failing_since";

/// An endpoint as the API shows it: never its secrets.
#[derive(Debug, Clone, FromRow)]
pub struct EndpointRow {
    pub id: Uuid,
    pub tenant: Option<String>,
    pub url: String,
    pub description: String,
    pub event_types: Vec<String>,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
}

pub struct NewEndpoint<'a> {
    pub id: Uuid,
    pub tenant: Option<&'a str>,
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub disabled: bool,
    pub secret: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_endpoint(
    db: impl PgExecutor<'_>,
    new: NewEndpoint<'_>,
) -> sqlx::Result<EndpointRow> {
    sqlx::query_as(&format!(
        "insert into webhook_endpoints
                (id, tenant, url, description, event_types, disabled, disabled_at, secret, created_by)
         values ($1, $2, $3, $4, $5, $6, case when $6 then now() end, $7, $8)
         returning {ENDPOINT_COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.tenant)
    .bind(new.url)
    .bind(new.description)
    .bind(new.event_types)
    .bind(new.disabled)
    .bind(new.secret)
    .bind(new.created_by)
    .fetch_one(db)
    .await
}

pub async fn find_endpoint(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<EndpointRow>> {
    sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints where id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A page of endpoints in id order (UUIDv7: creation order); `tenant` limits it to the
/// endpoints bound to that tenant (a tenant-bound caller).
pub async fn list_endpoints(
    db: impl PgExecutor<'_>,
    tenant: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<EndpointRow>> {
    sqlx::query_as(&format!(
        "select {ENDPOINT_COLUMNS} from webhook_endpoints
          where ($1::text is null or tenant = $1) and ($2::uuid is null or id > $2)
          order by id limit $3"
    ))
    .bind(tenant)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The changeable fields, all written (the API merged the patch into the current row).
pub struct EndpointChange<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub event_types: &'a [String],
    pub disabled: bool,
}

pub async fn update_endpoint(
    db: impl PgExecutor<'_>,
    id: Uuid,
    change: EndpointChange<'_>,
) -> sqlx::Result<Option<EndpointRow>> {
    // Re-enabling clears the reason and the failure streak, so the 3-day rule starts afresh.
    sqlx::query_as(&format!(
        "update webhook_endpoints
            set url = $2, description = $3, event_types = $4,
                disabled_reason = case when $5 then disabled_reason end,
                disabled_at = case when not $5 then null when disabled then disabled_at else now() end,
                failing_since = case when disabled and not $5 then null else failing_since end,
                disabled = $5
          where id = $1
      returning {ENDPOINT_COLUMNS}"
    ))
    .bind(id)
    .bind(change.url)
    .bind(change.description)
    .bind(change.event_types)
    .bind(change.disabled)
    .fetch_optional(db)
    .await
}

pub async fn delete_endpoint(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query("delete from webhook_endpoints where id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(result.rows_affected() > 0)
}

/// Makes `secret` the signing secret; the current one keeps signing (beside it) for `overlap`.
pub async fn rotate_secret(
    db: impl PgExecutor<'_>,
    id: Uuid,
    secret: &str,
    overlap: Duration,
) -> sqlx::Result<Option<EndpointRow>> {
    sqlx::query_as(&format!(
        "update webhook_endpoints
            set previous_secret = secret, secret = $2,
                previous_secret_expires_at = now() + make_interval(secs => $3)
          where id = $1
      returning {ENDPOINT_COLUMNS}"
    ))
    .bind(id)
    .bind(secret)
    .bind(overlap.as_secs_f64())
    .fetch_optional(db)
    .await
}

/// An entry in an endpoint's audit trail.
pub async fn insert_endpoint_event(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    actor: &str,
    kind: &str,
    details: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into webhook_endpoint_events (endpoint_id, actor, kind, details) values ($1, $2, $3, $4)",
    )
    .bind(endpoint_id)
    .bind(actor)
    .bind(kind)
    .bind(Json(details))
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct EndpointEventRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub kind: String,
    pub details: Json<Value>,
}

/// A page of an endpoint's audit trail, oldest first, after the entry `after`.
pub async fn endpoint_events(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<EndpointEventRow>> {
    sqlx::query_as(
        "select id, at, actor, kind, details from webhook_endpoint_events
          where endpoint_id = $1 and id > coalesce($2, 0) order by id limit $3",
    )
    .bind(endpoint_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

#[derive(Debug, FromRow)]
struct ChannelFacts {
    id: Uuid,
    tenant: String,
    name: String,
    phase: Phase,
    generation: i64,
    outputs: Json<ChannelOutputs>,
}

/// Writes a channel's audit event and, when its kind is one a booking system hears, the webhook
/// event and its deliveries: on `conn`, so inside the caller's transaction with the state
/// change. The payload carries the channel as this transaction sees it.
pub async fn record_channel_event(
    conn: &mut PgConnection,
    channel_id: Uuid,
    actor: &str,
    kind: EventKind,
    details: Value,
) -> sqlx::Result<()> {
    super::events::insert(&mut *conn, channel_id, actor, kind, details.clone()).await?;
    announce(conn, channel_id, kind, details).await
}

/// [`record_channel_event`] for an entry that must happen once per `audit.once_key` on the
/// channel (a stream's start, a recording's end): a second write of the key, in this
/// transaction or any other, writes nothing and sends nothing. `true` when this one wrote it.
pub async fn record_channel_event_once(
    conn: &mut PgConnection,
    channel_id: Uuid,
    actor: &str,
    audit: &Audit,
) -> sqlx::Result<bool> {
    let written = super::events::insert_once(&mut *conn, channel_id, actor, audit).await?;
    if written {
        announce(conn, channel_id, audit.kind, audit.details.clone()).await?;
    }
    Ok(written)
}

/// The webhook event an audit entry causes, if its kind is one a booking system hears, with
/// its deliveries: the payload carries the channel as this transaction sees it.
async fn announce(
    conn: &mut PgConnection,
    channel_id: Uuid,
    kind: EventKind,
    details: Value,
) -> sqlx::Result<()> {
    let Some(hook) = WebhookEventType::for_event_kind(kind) else {
        return Ok(());
    };
    let facts: ChannelFacts = sqlx::query_as(
        "select id, tenant, name, phase, generation, outputs from channels where id = $1",
    )
    .bind(channel_id)
    .fetch_one(&mut *conn)
    .await?;
    let channel = ChannelData {
        id: facts.id,
        tenant: facts.tenant,
        name: facts.name,
        phase: facts.phase,
        generation: facts.generation,
        outputs: facts.outputs.0,
    };
    let now = Utc::now();
    let payload = webhook::payload(hook, now, channel.data(details));
    insert_event(
        &mut *conn,
        &webhook::new_event_id(),
        hook,
        Some(&channel.tenant),
        Some(channel.id),
        &payload,
        now,
        None,
    )
    .await?;
    Ok(())
}

/// Inserts an outbox event and, in the same statement, a delivery for every enabled endpoint
/// that matches it (its tenant or all tenants; the type subscribed or every type). `only`
/// sends it to that endpoint alone (test events), whatever it subscribes to.
#[allow(clippy::too_many_arguments)]
pub async fn insert_event(
    db: impl PgExecutor<'_>,
    id: &str,
    kind: WebhookEventType,
    tenant: Option<&str>,
    channel_id: Option<Uuid>,
    payload: &Value,
    at: DateTime<Utc>,
    only: Option<Uuid>,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "with ev as (
            insert into webhook_events (id, type, tenant, channel_id, payload, created_at)
            values ($1, $2, $3, $4, $5, $6) returning id)
         insert into webhook_deliveries (event_id, endpoint_id)
         select ev.id, e.id from ev, webhook_endpoints e
          where case when $7::uuid is not null then e.id = $7
                     else not e.disabled
                          and (e.tenant is null or e.tenant = $3)
                          and (cardinality(e.event_types) = 0 or $2 = any(e.event_types)) end",
    )
    .bind(id)
    .bind(kind.as_str())
    .bind(tenant)
    .bind(channel_id)
    .bind(Json(payload))
    .bind(at)
    .bind(only)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// A delivery a worker holds the lease on, with what it needs to send it.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedDelivery {
    pub id: Uuid,
    pub lease_token: Uuid,
    pub attempts: i32,
    pub event_id: String,
    pub event_type: String,
    pub event_created_at: DateTime<Utc>,
    pub payload: Json<Value>,
    pub endpoint_id: Uuid,
    pub url: String,
    pub secret: String,
    /// Still valid (the rotation overlap has not ended): sign with it too.
    pub previous_secret: Option<String>,
}

/// Claims up to `limit` due deliveries, at most `per_endpoint` in flight per endpoint across
/// every worker (leases count), in one statement committed before any HTTP call. Each endpoint
/// is scanned on its own (the `webhook_deliveries_due` index), so one endpoint's backlog never
/// hides another's due deliveries; rows locked beyond an endpoint's share are let go at once.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    lease: Duration,
    limit: i64,
    per_endpoint: i64,
) -> sqlx::Result<Vec<ClaimedDelivery>> {
    sqlx::query_as(
        "with candidates as (
            select x.id, x.next_attempt_at, e.id as endpoint_id, b.busy
              from webhook_endpoints e
             cross join lateral (
                   select count(*) as busy from webhook_deliveries l
                    where l.endpoint_id = e.id and l.lease_token is not null
                      and l.lease_expires_at > now()) b
             cross join lateral (
                   select d.id, d.next_attempt_at from webhook_deliveries d
                    where d.endpoint_id = e.id and d.status = 'pending'
                      and d.next_attempt_at <= now()
                      and (d.lease_expires_at is null or d.lease_expires_at < now())
                    order by d.next_attempt_at
                    limit $4
                      for update skip locked) x
             where not e.disabled and b.busy < $4),
         picked as (
            select id from (
                select id, next_attempt_at, busy,
                       row_number() over (partition by endpoint_id order by next_attempt_at) as rn
                  from candidates) r
             where rn <= $4 - busy
             order by next_attempt_at
             limit $3)
         update webhook_deliveries d
            set lease_owner = $1, lease_token = gen_random_uuid(),
                lease_expires_at = now() + make_interval(secs => $2)
           from picked, webhook_events ev, webhook_endpoints e
          where d.id = picked.id and ev.id = d.event_id and e.id = d.endpoint_id
      returning d.id, d.lease_token, d.attempts, ev.id as event_id, ev.type as event_type,
                ev.created_at as event_created_at, ev.payload, e.id as endpoint_id, e.url, e.secret,
                case when e.previous_secret_expires_at > now() then e.previous_secret end
                    as previous_secret",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(limit)
    .bind(per_endpoint)
    .fetch_all(pool)
    .await
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub http_status: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
    /// 2xx.
    pub success: bool,
    /// Try again at this time; `None` with no success: the delivery is `failed`.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Records an attempt and the delivery's new state, fenced on the lease token (a worker whose
/// lease expired records nothing: the next owner's attempt counts). Returns whether it did.
/// The endpoint's health is touched only when it changes, so a busy endpoint's row is not
/// rewritten on every delivery.
pub async fn record_attempt(
    pool: &PgPool,
    delivery: &ClaimedDelivery,
    attempt: &AttemptRecord,
) -> sqlx::Result<bool> {
    let status = match (attempt.success, attempt.retry_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "pending",
        (false, None) => "failed",
    };
    let recorded: i64 = sqlx::query_scalar(
        "with d as (
            update webhook_deliveries
               set status = $3, attempts = attempts + 1,
                   next_attempt_at = coalesce($4, next_attempt_at), last_attempt_at = now(),
                   delivered_at = case when $3 = 'delivered' then now() end,
                   lease_owner = null, lease_token = null, lease_expires_at = null
             where id = $1 and lease_token = $2
         returning id, endpoint_id),
         a as (
            insert into webhook_attempts (delivery_id, http_status, duration_ms, response_body, error)
            select id, $5, $6, $7, $8 from d),
         e as (
            update webhook_endpoints
               set last_success_at = case when $9 then now() else last_success_at end,
                   failing_since = case when $9 then null else coalesce(failing_since, now()) end
             where id = (select endpoint_id from d)
               and (($9 and (failing_since is not null or last_success_at is null
                             or last_success_at < now() - interval '1 minute'))
                    or (not $9 and failing_since is null)))
         select count(*) from d",
    )
    .bind(delivery.id)
    .bind(delivery.lease_token)
    .bind(status)
    .bind(attempt.retry_at)
    .bind(attempt.http_status)
    .bind(attempt.duration_ms)
    .bind(attempt.response_body.as_deref())
    .bind(attempt.error.as_deref())
    .bind(attempt.success)
    .fetch_one(pool)
    .await?;
    Ok(recorded > 0)
}

/// Disables an endpoint with a reason and an audit entry; `None` when it was disabled already.
/// `failing_for` set: only if it has failed every delivery since at least that long.
pub async fn disable_endpoint(
    pool: &PgPool,
    endpoint_id: Uuid,
    reason: &str,
    failing_for: Option<Duration>,
) -> sqlx::Result<bool> {
    let disabled: i64 = sqlx::query_scalar(
        "with e as (
            update webhook_endpoints
               set disabled = true, disabled_reason = $2, disabled_at = now()
             where id = $1 and not disabled
               and ($3::float8 is null
                    or failing_since < now() - make_interval(secs => $3))
         returning id),
         a as (
            insert into webhook_endpoint_events (endpoint_id, actor, kind, details)
            select id, 'webhook-delivery', 'disabled', jsonb_build_object('reason', $2::text) from e)
         select count(*) from e",
    )
    .bind(endpoint_id)
    .bind(reason)
    .bind(failing_for.map(|d| d.as_secs_f64()))
    .fetch_one(pool)
    .await?;
    Ok(disabled > 0)
}

/// How long until the earliest pending delivery not yet due falls due. Deliveries already due
/// but not claimed wait for a slot of their endpoint; finishing a delivery wakes the workers.
pub async fn until_next_due(pool: &PgPool) -> sqlx::Result<Option<Duration>> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from min(next_attempt_at) - now())::float8
           from webhook_deliveries where status = 'pending' and next_attempt_at > now()",
    )
    .fetch_one(pool)
    .await?;
    Ok(seconds.map(|s| Duration::from_secs_f64(s.max(0.01))))
}

/// One line of an endpoint's delivery log.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub seq: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub endpoint_id: Uuid,
}

const DELIVERY_COLUMNS: &str = "d.id, d.seq, d.event_id, ev.type as event_type, d.status, \
     d.attempts, d.next_attempt_at, d.created_at, d.last_attempt_at, d.delivered_at, d.endpoint_id";

/// An endpoint's deliveries, newest first, before the position `before`.
pub async fn list_deliveries(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    status: Option<&str>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    sqlx::query_as(&format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events ev on ev.id = d.event_id
          where d.endpoint_id = $1 and ($2::text is null or d.status = $2)
            and ($3::bigint is null or d.seq < $3)
          order by d.seq desc limit $4"
    ))
    .bind(endpoint_id)
    .bind(status)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn find_delivery(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as(&format!(
        "select {DELIVERY_COLUMNS} from webhook_deliveries d join webhook_events ev on ev.id = d.event_id
          where d.id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub delivery_id: Uuid,
    pub at: DateTime<Utc>,
    pub http_status: Option<i32>,
    pub duration_ms: i32,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

/// The attempts of these deliveries, oldest first.
pub async fn attempts_of(
    db: impl PgExecutor<'_>,
    deliveries: &[Uuid],
) -> sqlx::Result<Vec<AttemptRow>> {
    sqlx::query_as(
        "select delivery_id, at, http_status, duration_ms, response_body, error
           from webhook_attempts where delivery_id = any($1) order by id",
    )
    .bind(deliveries)
    .fetch_all(db)
    .await
}

/// Makes a delivery due now with a fresh schedule (a delivered one is sent again, same id).
pub async fn retry_delivery(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<bool> {
    let result = sqlx::query(
        "update webhook_deliveries
            set status = 'pending', attempts = 0, next_attempt_at = now()
          where id = $1 and lease_token is null",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Wakes the delivery workers (after a retry; inserts notify by trigger).
pub async fn notify_work(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query("select pg_notify($1, '')")
        .bind(WORK_CHANNEL)
        .execute(db)
        .await?;
    Ok(())
}

/// Sends again to this endpoint every event since `since` that it would receive (its tenant or
/// all, its types or all; test events excluded), each under its original `webhook-id`. Returns
/// how many deliveries were made due.
pub async fn replay(
    db: impl PgExecutor<'_>,
    endpoint_id: Uuid,
    since: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let result = sqlx::query(
        "insert into webhook_deliveries (event_id, endpoint_id)
         select ev.id, e.id from webhook_endpoints e
           join webhook_events ev on ev.created_at >= $2
          where e.id = $1 and ev.type <> $3
            and (e.tenant is null or ev.tenant = e.tenant)
            and (cardinality(e.event_types) = 0 or ev.type = any(e.event_types))
         on conflict (event_id, endpoint_id) do update
            set status = 'pending', attempts = 0, next_attempt_at = now()
          where webhook_deliveries.lease_token is null",
    )
    .bind(endpoint_id)
    .bind(since)
    .bind(WebhookEventType::WebhookTest.as_str())
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Deletes up to `batch` finished deliveries (and then events with no delivery left) older than
/// `retention`; returns how many rows went. Small batches keep each statement short.
pub async fn prune(pool: &PgPool, retention: Duration, batch: i64) -> sqlx::Result<u64> {
    let secs = retention.as_secs_f64();
    let deliveries = sqlx::query(
        "delete from webhook_deliveries where id in (
            select id from webhook_deliveries
             where created_at < now() - make_interval(secs => $1) and status <> 'pending'
             limit $2)",
    )
    .bind(secs)
    .bind(batch)
    .execute(pool)
    .await?
    .rows_affected();
    let events = sqlx::query(
        "delete from webhook_events where id in (
            select id from webhook_events ev
             where created_at < now() - make_interval(secs => $1)
               and not exists (select 1 from webhook_deliveries d where d.event_id = ev.id)
             limit $2)",
    )
    .bind(secs)
    .bind(batch)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(deliveries + events)
}

/// Gauges for `/metrics`: pending deliveries (the outbox depth), the oldest pending one's age,
/// and disabled endpoints.
pub async fn gauges(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, f64, i64)> {
    sqlx::query_as(
        "select (select count(*) from webhook_deliveries where status = 'pending'),
                coalesce((select extract(epoch from now() - min(created_at))::float8
                            from webhook_deliveries where status = 'pending'), 0),
                (select count(*) from webhook_endpoints where disabled)",
    )
    .fetch_one(db)
    .await
}
