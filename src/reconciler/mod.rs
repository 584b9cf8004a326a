//! The reconciler: workers that claim channel rows needing work (with a lease, `FOR UPDATE SKIP
//! LOCKED`), make IVS and SSM match them, and record the outcome. Any number of workers in any
//! number of processes share one database safely; no transaction is open across an AWS call.

mod adopt;
mod caller_keys;
pub mod channel;
mod chat_room;
pub mod drift;
mod ingest;
mod ivs_channel;
mod managed_key;
mod publish;
mod settings;
mod shared;
pub mod step;
mod stream_keys;
mod tags;

use std::sync::Arc;

use chrono::Utc;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::aws::Aws;
use crate::db::{self, claims, claims::Claimed};
use crate::domain::event::actor::RECONCILER;
use crate::domain::{EventKind, LastError, Phase};
pub use managed_key::{FingerprintFuture, ManagedKey, NoManagedKey};
pub use settings::{ReconcilerArgs, Settings};
use step::{StepError, retry_delay};

/// What every reconcile step can reach.
#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    pub aws: Aws,
    pub settings: Arc<Settings>,
    pub worker_id: String,
    /// The managed signing key's IVS fingerprint, for private channels without a key of their
    /// own. The playback-key engine owns that key; whoever wires the process hands it in.
    pub managed_key: Arc<dyn ManagedKey>,
}

impl Ctx {
    pub fn new(
        pool: PgPool,
        aws: Aws,
        settings: Settings,
        managed_key: Arc<dyn ManagedKey>,
    ) -> Self {
        let worker_id = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
        Ctx {
            pool,
            aws,
            settings: Arc::new(settings),
            worker_id,
            managed_key,
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
    tokio::spawn(db::forward_notifications(
        ctx.pool.clone(),
        db::claims::WORK_CHANNEL,
        wake.clone(),
        stop.clone(),
    ));
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
            let nap = claims::until_next_due(&ctx.pool)
                .await
                .ok()
                .flatten()
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

/// Reconciles one claimed row, renewing its lease meanwhile, and records the outcome. Everything
/// runs inside the row's span as an instrumented future, so no span guard is held across an
/// `.await` (which would put other tasks' log lines in this channel's span).
async fn handle(ctx: Ctx, row: Claimed) {
    let span = tracing::info_span!("reconcile", channel = %row.id, tenant = %row.tenant, name = %row.name, generation = row.generation);
    reconcile_and_record(ctx, row).instrument(span).await
}

async fn reconcile_and_record(ctx: Ctx, row: Claimed) {
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
    let started = std::time::Instant::now();
    // A call that never answers must not hold the slot and the lease forever: past the
    // deadline the attempt is dropped, the heartbeat stops, and the row is retried.
    let deadline = ctx.settings.attempt_timeout;
    let result = tokio::time::timeout(deadline, channel::reconcile(&ctx, &row))
        .await
        .unwrap_or(Err(StepError::TimedOut(deadline)));
    let outcome: &'static str = step::Outcome::of(&result).into();
    metrics::counter!(crate::metrics::RECONCILE_ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(crate::metrics::RECONCILE_DURATION, "outcome" => outcome)
        .record(started.elapsed().as_secs_f64());
    heartbeat.abort();
    if let Err(error) = result
        && let Err(e) = record_failure(&ctx, &row, &error).await
    {
        tracing::warn!(error = %e, "could not record the outcome; the lease will expire and the row be retried");
    }
}

async fn record_failure(ctx: &Ctx, row: &Claimed, error: &StepError) -> Result<(), StepError> {
    if let StepError::LeaseLost(_) = error {
        tracing::warn!("lease lost; another worker owns the row now");
        return Ok(());
    }
    let now = Utc::now();
    let (phase, delay, count) = match error {
        StepError::Defer { after, .. } => (None, *after, false),
        e if e.is_permanent() => (
            row.phase.after_permanent_failure(),
            ctx.settings.failed_retry,
            true,
        ),
        _ => (
            None,
            retry_delay(row.attempts as u32, ctx.settings.max_backoff),
            true,
        ),
    };
    let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
    let last_error = LastError {
        code: error.code(),
        message: error.message(),
        at: now,
        attempts: Some(i64::from(row.attempts + i32::from(count))),
        next_attempt_at: Some(next),
    };
    if phase == Some(Phase::Failed) {
        tracing::warn!(error = %error, "channel failed; it needs a change, an operator retry, or time");
        // The phase, the audit event and the `channel.failed` webhook commit together.
        let mut tx = ctx.pool.begin().await?;
        claims::release(&mut *tx, row, phase, Some(&last_error), count, next).await?;
        let details = serde_json::to_value(&last_error).unwrap_or_default();
        let kind = EventKind::Failed;
        db::webhooks::record_channel_event(&mut tx, row.id, RECONCILER, kind, details).await?;
        tx.commit().await?;
        return Ok(());
    }
    tracing::info!(error = %error, retry_in = ?delay, "reconcile will be retried");
    claims::release(&ctx.pool, row, phase, Some(&last_error), count, next).await?;
    Ok(())
}
