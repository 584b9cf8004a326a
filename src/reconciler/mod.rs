//! The reconciler: workers that claim channel rows needing work (with a lease, `FOR UPDATE SKIP
//! LOCKED`), make IVS and SSM match them, and record the outcome. Any number of workers in any
//! number of processes share one database safely; no transaction is open across an AWS call.

pub mod channel;
pub mod claims;
pub mod drift;
pub mod publish;
pub mod shared;
pub mod step;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::aws::{Aws, RateSettings};
use crate::db;
use claims::Claimed;
use step::{StepError, retry_delay};

/// The reconciler's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ReconcilerArgs {
    /// Prefix of the SSM parameters the service writes.
    #[arg(long, env = "SSM_PREFIX", default_value = "/live")]
    pub ssm_prefix: String,
    /// Channels reconciled at once by this process.
    #[arg(long, env = "RECONCILER_CONCURRENCY", default_value_t = 8)]
    pub reconciler_concurrency: usize,
    /// Seconds a claimed row stays leased to a worker (renewed while it works).
    #[arg(long, env = "RECONCILER_LEASE_SECS", default_value_t = 60)]
    pub reconciler_lease_secs: u64,
    /// Seconds between polls when no notification arrives.
    #[arg(long, env = "RECONCILER_POLL_SECS", default_value_t = 5)]
    pub reconciler_poll_secs: u64,
    /// Longest wait between retries of a retryable failure, in seconds.
    #[arg(long, env = "RECONCILER_MAX_BACKOFF_SECS", default_value_t = 300)]
    pub reconciler_max_backoff_secs: u64,
    /// Seconds before a `failed` channel is tried again by itself (a spec change or
    /// `POST /v1/channels/{id}/reconcile` retries at once).
    #[arg(long, env = "RECONCILER_FAILED_RETRY_SECS", default_value_t = 3600)]
    pub reconciler_failed_retry_secs: u64,
    /// Seconds between drift sweeps (BatchGetChannel against every ready channel; 0 = off).
    #[arg(long, env = "DRIFT_SWEEP_SECS", default_value_t = 300)]
    pub drift_sweep_secs: u64,
    /// Seconds to wait for a new recording configuration to become ACTIVE within one attempt.
    #[arg(long, env = "RECORDING_ACTIVE_WAIT_SECS", default_value_t = 30)]
    pub recording_active_wait_secs: u64,
    #[command(flatten)]
    pub rates: RateSettings,
}

/// The settings in the form the steps use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub ssm_prefix: String,
    pub concurrency: usize,
    pub lease: Duration,
    pub poll: Duration,
    pub max_backoff: Duration,
    pub failed_retry: Duration,
    pub recording_wait: Duration,
    pub drift_interval: Duration,
}

impl From<&ReconcilerArgs> for Settings {
    fn from(a: &ReconcilerArgs) -> Self {
        Settings {
            ssm_prefix: a.ssm_prefix.clone(),
            concurrency: a.reconciler_concurrency.max(1),
            lease: Duration::from_secs(a.reconciler_lease_secs.max(5)),
            poll: Duration::from_secs(a.reconciler_poll_secs.max(1)),
            max_backoff: Duration::from_secs(a.reconciler_max_backoff_secs.max(1)),
            failed_retry: Duration::from_secs(a.reconciler_failed_retry_secs),
            recording_wait: Duration::from_secs(a.recording_active_wait_secs),
            drift_interval: Duration::from_secs(a.drift_sweep_secs),
        }
    }
}

/// What every reconcile step can reach.
#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    pub aws: Aws,
    pub settings: Arc<Settings>,
    pub worker_id: String,
}

impl Ctx {
    pub fn new(pool: PgPool, aws: Aws, settings: Settings) -> Self {
        let worker_id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Ctx {
            pool,
            aws,
            settings: Arc::new(settings),
            worker_id,
        }
    }
}

/// Claims and reconciles rows until none is claimable right now; returns how many were handled.
/// Tests and benchmarks drive the reconciler with this instead of the endless loop.
pub async fn run_once(ctx: &Ctx) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        let rows = claims::claim(
            &ctx.pool,
            &ctx.worker_id,
            ctx.settings.lease,
            ctx.settings.concurrency as i64,
        )
        .await?;
        if rows.is_empty() {
            return Ok(handled);
        }
        handled += rows.len();
        let tasks: Vec<_> = rows
            .into_iter()
            .map(|row| tokio::spawn(handle(ctx.clone(), row)))
            .collect();
        for task in tasks {
            task.await?;
        }
    }
}

/// Runs workers until `stop` is set: claims as many rows as there are free slots, wakes on
/// NOTIFY or after the poll interval.
pub async fn run(ctx: Ctx, stop: CancellationToken) {
    let wake = Arc::new(Notify::new());
    tokio::spawn(listen(ctx.pool.clone(), wake.clone(), stop.clone()));
    tokio::spawn(drift::run_periodically(
        ctx.clone(),
        ctx.settings.drift_interval,
        stop.clone(),
    ));
    let slots = Arc::new(Semaphore::new(ctx.settings.concurrency));
    tracing::info!(worker = %ctx.worker_id, concurrency = ctx.settings.concurrency, "reconciler started");
    while !stop.is_cancelled() {
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            claims::claim(&ctx.pool, &ctx.worker_id, ctx.settings.lease, free as i64).await
        };
        let rows = claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "claiming rows failed; retrying after the poll interval");
            Vec::new()
        });
        let busy = rows.len() == free && free > 0;
        for row in rows {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let ctx = ctx.clone();
            let wake = wake.clone();
            tokio::spawn(async move {
                handle(ctx, row).await;
                drop(permit);
                wake.notify_one();
            });
        }
        if !busy {
            // Sleep until a notification, the next retry falling due, or the poll interval.
            let nap = until_next_due(&ctx.pool)
                .await
                .unwrap_or(ctx.settings.poll)
                .min(ctx.settings.poll);
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(nap) => {}
                () = stop.cancelled() => {}
            }
        }
    }
    // Let in-flight reconciles finish their current step.
    let _ = slots.acquire_many(ctx.settings.concurrency as u32).await;
    tracing::info!("reconciler stopped");
}

/// How long until the earliest deferred or backed-off row falls due (none: `None`).
async fn until_next_due(pool: &PgPool) -> Option<Duration> {
    let seconds: Option<f64> = sqlx::query_scalar(
        "select extract(epoch from min(next_attempt_at) - now())::float8 from channels
          where phase in ('pending', 'provisioning', 'updating', 'deleting') and lease_token is null",
    )
    .fetch_one(pool)
    .await
    .ok()
    .flatten();
    seconds.map(|s| Duration::from_secs_f64(s.max(0.01)))
}

/// Forwards `NOTIFY channel_work` to the loop; polling covers any gap while reconnecting.
async fn listen(pool: PgPool, wake: Arc<Notify>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen("channel_work").await?;
            loop {
                listener.recv().await?;
                wake.notify_one();
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listener => {
                if let Err(e) = result {
                    tracing::warn!(error = %e, "LISTEN connection lost; polling until it is back");
                }
            }
            () = stop.cancelled() => return,
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reconciles one claimed row, renewing its lease meanwhile, and records the outcome.
async fn handle(ctx: Ctx, row: Claimed) {
    let heartbeat = {
        let (pool, row, lease) = (ctx.pool.clone(), row.clone(), ctx.settings.lease);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(lease / 3).await;
                if claims::extend_lease(&pool, &row, lease).await.is_err() {
                    return;
                }
            }
        })
    };
    let span = tracing::info_span!("reconcile", channel = %row.id, tenant = %row.tenant, name = %row.name, generation = row.generation);
    let started = std::time::Instant::now();
    let result =
        tracing::Instrument::instrument(channel::reconcile(&ctx, &row), span.clone()).await;
    let outcome = match &result {
        Ok(()) => "done",
        Err(StepError::Defer { .. }) => "deferred",
        Err(e) if e.is_permanent() => "failed",
        Err(_) => "retry",
    };
    metrics::counter!(crate::metrics::RECONCILE_ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(crate::metrics::RECONCILE_DURATION, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    heartbeat.abort();
    let _enter = span.enter();
    if let Err(error) = result
        && let Err(e) = record_failure(&ctx, &row, &error).await
    {
        tracing::warn!(error = %e, "could not record the outcome; the lease will expire and the row be retried");
    }
}

async fn record_failure(ctx: &Ctx, row: &Claimed, error: &StepError) -> anyhow::Result<()> {
    if let StepError::Internal(e) = error
        && e.downcast_ref::<claims::LeaseLost>().is_some()
    {
        tracing::warn!("lease lost; another worker owns the row now");
        return Ok(());
    }
    let now = Utc::now();
    let (phase, delay, count) = match error {
        StepError::Defer { after, .. } => (None, *after, false),
        e if e.is_permanent() => {
            // A delete keeps its phase: it is retried, and the row must not look alive.
            let phase = if row.phase == "deleting" {
                None
            } else {
                Some("failed")
            };
            (phase, ctx.settings.failed_retry, true)
        }
        _ => (
            None,
            retry_delay(row.attempts as u32, ctx.settings.max_backoff),
            true,
        ),
    };
    let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
    let last_error = json!({
        "code": error.code(),
        "message": error.message(),
        "at": now,
        "attempts": row.attempts + i32::from(count),
        "next_attempt_at": next,
    });
    if phase == Some("failed") {
        tracing::warn!(error = %error, "channel failed; it needs a change, an operator retry, or time");
        db::events::insert(
            &ctx.pool,
            row.id,
            "reconciler",
            "failed",
            last_error.clone(),
        )
        .await?;
    } else {
        tracing::info!(error = %error, retry_in = ?delay, "reconcile will be retried");
    }
    claims::release(&ctx.pool, row, phase, Some(&last_error), count, next).await
}
