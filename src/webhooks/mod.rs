//! The webhook delivery engine: workers that claim due deliveries from the outbox (a lease,
//! `FOR UPDATE SKIP LOCKED`, a bound per endpoint), sign and post them, and record each attempt.
//! Any number of workers in any number of processes share one database; no transaction is open
//! across an HTTP call, so a crash between commit and send only delays a delivery until its
//! lease expires (at least once, the same `webhook-id` every time).

mod client;
mod settings;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use sqlx::PgPool;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::db::{self, webhooks::AttemptRecord, webhooks::ClaimedDelivery};
use crate::domain::webhook::{retry_delay, signature_header};
pub use client::{Response, Sender, parse_retry_after};
pub use settings::{Settings, WebhookArgs};

/// What every delivery can reach.
#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub sender: Sender,
    pub worker_id: String,
}

impl Ctx {
    pub fn new(pool: PgPool, settings: Settings) -> anyhow::Result<Self> {
        let sender = Sender::new(settings.timeout, settings.policy.allow_private)?;
        Ok(Ctx {
            pool,
            sender,
            settings: Arc::new(settings),
            worker_id: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        })
    }
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// The schedule is spent.
    Failed,
    /// 410 Gone: the receiver wants no more; the endpoint is disabled.
    Gone,
}

/// The delivery rules: 2xx delivered; 410 disables the endpoint; 429 and 503 wait for
/// `Retry-After` when given; anything else (other statuses, timeouts, refusals, connection
/// errors) follows the schedule with jitter (`unit` in [0, 1)), `failed` after the last attempt.
/// `attempts_done` counts the attempt just made.
pub fn decide(
    response: &Response,
    attempts_done: u32,
    schedule: &[Duration],
    unit: f64,
) -> Decision {
    match response.status {
        Some(200..=299) => return Decision::Delivered,
        Some(410) => return Decision::Gone,
        _ => {}
    }
    let Some(delay) = retry_delay(schedule, attempts_done, unit) else {
        return Decision::Failed;
    };
    match (response.status, response.retry_after) {
        (Some(429 | 503), Some(asked)) => Decision::Retry(asked),
        _ => Decision::Retry(delay),
    }
}

/// Claims and delivers until nothing is due right now; returns how many attempts were made.
/// Tests and benchmarks drive the engine with this instead of the endless loop.
pub async fn run_once(ctx: &Ctx) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        let batch = db::webhooks::claim(
            &ctx.pool,
            &ctx.worker_id,
            ctx.settings.lease,
            ctx.settings.concurrency as i64,
            ctx.settings.per_endpoint as i64,
        )
        .await?;
        if batch.is_empty() {
            return Ok(handled);
        }
        handled += batch.len();
        let tasks: Vec<_> = batch
            .into_iter()
            .map(|delivery| tokio::spawn(deliver(ctx.clone(), delivery)))
            .collect();
        for task in tasks {
            task.await?;
        }
    }
}

/// Runs workers until `stop` is set: claims as many deliveries as there are free slots, wakes
/// on NOTIFY, when a delivery finishes, when the next retry falls due, or after the poll
/// interval. Also prunes old deliveries.
pub async fn run(ctx: Ctx, stop: CancellationToken) {
    let wake = Arc::new(Notify::new());
    tokio::spawn(db::forward_notifications(
        ctx.pool.clone(),
        db::webhooks::WORK_CHANNEL,
        wake.clone(),
        stop.clone(),
    ));
    tokio::spawn(prune_periodically(ctx.clone(), stop.clone()));
    let concurrency = ctx.settings.concurrency;
    let slots = Arc::new(Semaphore::new(concurrency));
    tracing::info!(worker = %ctx.worker_id, concurrency, per_endpoint = ctx.settings.per_endpoint, "webhook delivery started");
    while !stop.is_cancelled() {
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            db::webhooks::claim(
                &ctx.pool,
                &ctx.worker_id,
                ctx.settings.lease,
                free as i64,
                ctx.settings.per_endpoint as i64,
            )
            .await
        };
        let batch = claimed.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "claiming webhook deliveries failed; retrying after the poll interval");
            Vec::new()
        });
        let busy = batch.len() == free && free > 0;
        for delivery in batch {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return;
            };
            let (ctx, wake) = (ctx.clone(), wake.clone());
            tokio::spawn(async move {
                deliver(ctx, delivery).await;
                drop(permit);
                wake.notify_one();
            });
        }
        if !busy {
            let nap = db::webhooks::until_next_due(&ctx.pool)
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
    // In-flight attempts end within the attempt timeout; the caller bounds the wait.
    let _ = slots.acquire_many(concurrency as u32).await;
    tracing::info!("webhook delivery stopped");
}

/// Deletes finished deliveries past the retention, a small batch at a time, every few minutes.
async fn prune_periodically(ctx: Ctx, stop: CancellationToken) {
    const BATCH: i64 = 500;
    loop {
        loop {
            match db::webhooks::prune(&ctx.pool, ctx.settings.retention, BATCH).await {
                Ok(n) if n > 0 => tokio::time::sleep(Duration::from_millis(100)).await,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning old webhook deliveries failed");
                    break;
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(300)) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One attempt of one claimed delivery, recorded; the endpoint is disabled on 410 or after
/// failing everything for the configured time.
async fn deliver(ctx: Ctx, delivery: ClaimedDelivery) {
    let body = serde_json::to_vec(&delivery.payload.0).unwrap_or_default();
    let timestamp = Utc::now().timestamp();
    let mut secrets = vec![delivery.secret.as_str()];
    secrets.extend(delivery.previous_secret.as_deref());
    let signature = signature_header(&secrets, &delivery.event_id, timestamp, &body);
    let response = ctx
        .sender
        .post(
            &delivery.url,
            &delivery.event_id,
            timestamp,
            &signature,
            body,
        )
        .await;
    let attempts_done = delivery.attempts as u32 + 1;
    let unit: f64 = rand::thread_rng().r#gen();
    let decision = decide(&response, attempts_done, &ctx.settings.schedule, unit);
    let retry_at = match decision {
        Decision::Retry(delay) => {
            Some(Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
        }
        _ => None,
    };
    let record = AttemptRecord {
        http_status: response.status.map(i32::from),
        duration_ms: response.duration.as_millis().min(i32::MAX as u128) as i32,
        response_body: response.body.clone(),
        error: response.error.clone(),
        success: decision == Decision::Delivered,
        retry_at,
    };
    let outcome: &'static str = match decision {
        Decision::Delivered => "delivered",
        Decision::Retry(_) => "retrying",
        Decision::Failed => "failed",
        Decision::Gone => "gone",
    };
    let event_type = delivery.event_type.clone();
    metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => outcome).increment(1);
    metrics::histogram!(crate::metrics::WEBHOOK_ATTEMPT_DURATION)
        .record(response.duration.as_secs_f64());
    match db::webhooks::record_attempt(&ctx.pool, &delivery, &record).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(delivery = %delivery.id, "webhook delivery lease lost; the next owner's attempt counts");
            return;
        }
        Err(e) => {
            tracing::warn!(delivery = %delivery.id, error = %e, "could not record a webhook attempt; the lease will expire and it is sent again");
            return;
        }
    }
    if !matches!(decision, Decision::Retry(_)) {
        metrics::counter!(crate::metrics::WEBHOOK_DELIVERIES, "outcome" => outcome, "type" => event_type)
            .increment(1);
    }
    if decision == Decision::Delivered {
        let lag = (Utc::now() - delivery.event_created_at)
            .to_std()
            .unwrap_or_default();
        metrics::histogram!(crate::metrics::WEBHOOK_DELIVERY_LAG).record(lag.as_secs_f64());
        return;
    }
    tracing::info!(
        delivery = %delivery.id, endpoint = %delivery.endpoint_id, event = %delivery.event_id,
        status = ?response.status, error = ?response.error, outcome, attempts = attempts_done,
        "webhook attempt failed"
    );
    let (reason, failing_for) = match decision {
        Decision::Gone => ("the endpoint answered 410 Gone".to_owned(), None),
        _ => (
            format!(
                "every delivery failed for {} s",
                ctx.settings.disable_after.as_secs()
            ),
            Some(ctx.settings.disable_after),
        ),
    };
    match db::webhooks::disable_endpoint(&ctx.pool, delivery.endpoint_id, &reason, failing_for)
        .await
    {
        Ok(true) => {
            tracing::warn!(endpoint = %delivery.endpoint_id, %reason, "webhook endpoint disabled");
            let why = if failing_for.is_some() {
                "failing"
            } else {
                "gone"
            };
            metrics::counter!(crate::metrics::WEBHOOK_ENDPOINTS_DISABLED, "reason" => why)
                .increment(1);
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not check whether to disable a webhook endpoint")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: Option<u16>, retry_after: Option<u64>) -> Response {
        Response {
            status,
            retry_after: retry_after.map(Duration::from_secs),
            ..Response::default()
        }
    }

    #[test]
    fn delivery_rules() {
        let schedule: Vec<Duration> = [0, 5, 300].map(Duration::from_secs).to_vec();
        assert_eq!(
            decide(&answer(Some(204), None), 1, &schedule, 0.5),
            Decision::Delivered
        );
        assert_eq!(
            decide(&answer(Some(410), None), 1, &schedule, 0.5),
            Decision::Gone
        );
        assert_eq!(
            decide(&answer(Some(500), None), 1, &schedule, 0.5),
            Decision::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            decide(&answer(Some(429), Some(42)), 1, &schedule, 0.5),
            Decision::Retry(Duration::from_secs(42))
        );
        assert_eq!(
            decide(&answer(Some(503), None), 2, &schedule, 0.5),
            Decision::Retry(Duration::from_secs(300))
        );
        // A redirect is not followed, and it is not success.
        assert!(matches!(
            decide(&answer(Some(302), None), 1, &schedule, 0.5),
            Decision::Retry(_)
        ));
        assert_eq!(
            decide(&answer(None, None), 3, &schedule, 0.5),
            Decision::Failed
        );
        assert_eq!(
            decide(&answer(Some(429), Some(1)), 3, &schedule, 0.5),
            Decision::Failed
        );
    }
}
