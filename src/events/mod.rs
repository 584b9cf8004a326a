//! The IVS event intake engine: pollers long-poll the SQS queue EventBridge routes IVS's events
//! to, apply each event once (its EventBridge id is recorded in the same transaction as the
//! session or recording fact it states, so a redelivery or a second replica applies nothing),
//! and delete the message only after that commit. A message for a channel that is not the
//! service's is counted and dropped; a message that is not an IVS event is set aside (kept with
//! its secrets redacted, counted, logged without its body) and deleted, never retried forever.
//! `setup` creates the queue, its policy, the rule and the target for `events setup`.

mod settings;
mod setup;

use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::aws::{Aws, MAX_MESSAGES, QueueMessage};
use crate::db::{self, broadcasts::BroadcastChannel};
use crate::domain::broadcast::FactSource;
use crate::domain::event_routing::redact_secrets;
use crate::domain::ivs_event::{self, Effect, IvsEvent, ParseError};
use crate::metrics::{IVS_EVENTS_LAG, IVS_EVENTS_QUEUE_ERRORS, IVS_EVENTS_RECEIVED};
pub use settings::{EventArgs, Settings};
pub use setup::{SetupReport, setup};

/// A message that failed this many times for a reason other than the database being
/// unavailable is set aside instead of being retried again.
const MAX_RECEIVES: u32 = 5;
/// Applied-event records and rejects are pruned this often, this many rows a statement.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const PRUNE_BATCH: i64 = 1000;

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum Outcome {
    /// Its fact is stored (or it states none, and it is recorded as applied).
    Applied,
    /// Its event was applied before (a redelivery, another replica).
    Duplicate,
    /// About a channel that is not the service's.
    UnknownChannel,
    /// An IVS event of a kind the service does not track, or about no channel.
    Ignored,
    /// Not an IVS event: set aside.
    Malformed,
}

/// What the pollers share.
#[derive(Clone)]
pub struct Ctx {
    pub pool: PgPool,
    pub aws: Aws,
    pub settings: Settings,
}

/// The pollers and the pruner, until `stop`; a receive in flight is abandoned at once (its
/// messages come back after the visibility timeout), a message being applied is finished.
pub async fn run(ctx: Ctx, stop: CancellationToken) {
    tracing::info!(
        queue = %ctx.settings.queue_url,
        pollers = ctx.settings.pollers,
        "IVS event intake started"
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..ctx.settings.pollers {
        tasks.spawn(poll(ctx.clone(), stop.clone()));
    }
    tasks.spawn(prune(ctx.clone(), stop.clone()));
    while tasks.join_next().await.is_some() {}
}

/// One poller: receive, apply each message, delete the finished ones, again.
async fn poll(ctx: Ctx, stop: CancellationToken) {
    let mut failures = 0u32;
    while !stop.is_cancelled() {
        let received = tokio::select! {
            received = ctx.aws.receive_messages(
                &ctx.settings.queue_url,
                MAX_MESSAGES,
                ctx.settings.wait,
                ctx.settings.visibility,
            ) => received,
            () = stop.cancelled() => return,
        };
        let messages = match received {
            Ok(messages) => {
                failures = 0;
                messages
            }
            Err(error) => {
                failures += 1;
                metrics::counter!(IVS_EVENTS_QUEUE_ERRORS, "operation" => "receive").increment(1);
                tracing::warn!(%error, "receiving IVS events failed; retrying");
                let backoff = Duration::from_secs(1 << failures.min(5));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => continue,
                    () = stop.cancelled() => return,
                }
            }
        };
        let mut finished = Vec::with_capacity(messages.len());
        for message in &messages {
            if settle(&ctx.pool, message).await {
                finished.push((message.message_id.as_str(), message.receipt_handle.as_str()));
            }
        }
        delete(&ctx, &finished).await;
    }
}

/// Applies one message and says whether it may be deleted: not when the database failed (the
/// message comes back after the visibility timeout), unless it has failed too often for a
/// reason that is not the database being unavailable; then it is set aside.
async fn settle(pool: &PgPool, message: &QueueMessage) -> bool {
    let error = match handle(pool, message).await {
        Ok(_) => return true,
        Err(error) => error,
    };
    let transient = db::unavailable_reason(&error).is_some();
    tracing::warn!(
        message_id = %message.message_id,
        receives = message.receive_count,
        %error,
        "applying an IVS event failed; it comes back after the visibility timeout"
    );
    if transient || message.receive_count < MAX_RECEIVES {
        return false;
    }
    let reason = format!(
        "could not be applied after {} receives: {error}",
        message.receive_count
    );
    set_aside(pool, message, "unknown", &reason).await.is_ok()
}

/// Applies one message: parse, find its channel, record the event and its fact in one
/// transaction. Counted by type and outcome; the lag is measured for applied events.
pub async fn handle(pool: &PgPool, message: &QueueMessage) -> Result<Outcome, sqlx::Error> {
    let event = match ivs_event::parse(&message.body) {
        Ok(event) => event,
        Err(ParseError::Malformed(reason)) => {
            return set_aside(pool, message, "unknown", &reason).await;
        }
        Err(ParseError::Unsupported(what)) => {
            tracing::debug!(message_id = %message.message_id, %what, "IVS event not tracked");
            return Ok(count("unknown", Outcome::Ignored));
        }
    };
    let kind = event.detail_type.label();
    let Some(arn) = event.channel_arn.as_deref() else {
        return Ok(count(kind, Outcome::Ignored));
    };
    let Some(channel) = db::broadcasts::channel_by_arn(pool, arn).await? else {
        return Ok(count(kind, Outcome::UnknownChannel));
    };
    let outcome = apply(pool, &channel, &event).await?;
    if outcome == Outcome::Applied {
        let lag = (Utc::now() - event.time).to_std().unwrap_or_default();
        metrics::histogram!(IVS_EVENTS_LAG).record(lag.as_secs_f64());
    }
    Ok(count(kind, outcome))
}

/// The event recorded as applied and its fact merged, in one transaction; nothing when the
/// event was applied before.
async fn apply(
    pool: &PgPool,
    channel: &BroadcastChannel,
    event: &IvsEvent,
) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let first = db::broadcasts::mark_applied(
        &mut *tx,
        &event.id,
        event.detail_type,
        channel.id,
        event.time,
    )
    .await?;
    if !first {
        tx.rollback().await?;
        return Ok(Outcome::Duplicate);
    }
    match event.effect() {
        Effect::Session(fact) => {
            db::broadcasts::record_session_fact(&mut tx, channel, &fact, FactSource::Event).await?;
        }
        Effect::Recording(fact) => {
            db::broadcasts::record_recording_fact(&mut tx, channel, &fact, FactSource::Event)
                .await?;
        }
        Effect::Nothing => {}
    }
    tx.commit().await?;
    Ok(Outcome::Applied)
}

/// Keeps a message that cannot be applied (redacted), logs it without its body, counts it.
async fn set_aside(
    pool: &PgPool,
    message: &QueueMessage,
    kind: &'static str,
    reason: &str,
) -> Result<Outcome, sqlx::Error> {
    db::broadcasts::set_aside(
        pool,
        &message.message_id,
        reason,
        &redact_secrets(&message.body),
    )
    .await?;
    tracing::warn!(
        message_id = %message.message_id,
        bytes = message.body.len(),
        reason,
        "queue message set aside (ivs_event_rejects)"
    );
    Ok(count(kind, Outcome::Malformed))
}

fn count(kind: &'static str, outcome: Outcome) -> Outcome {
    let label: &'static str = outcome.into();
    metrics::counter!(IVS_EVENTS_RECEIVED, "type" => kind, "outcome" => label).increment(1);
    outcome
}

/// Deletes the finished messages, 10 a call. A failed delete is only logged: the message comes
/// back and is then a duplicate.
async fn delete(ctx: &Ctx, finished: &[(&str, &str)]) {
    for batch in finished.chunks(MAX_MESSAGES as usize) {
        match ctx
            .aws
            .delete_messages(&ctx.settings.queue_url, batch)
            .await
        {
            Ok(failed) if failed.is_empty() => {}
            Ok(failed) => {
                metrics::counter!(IVS_EVENTS_QUEUE_ERRORS, "operation" => "delete")
                    .increment(failed.len() as u64);
                tracing::warn!(
                    ?failed,
                    "SQS did not delete some applied messages; they will come back as duplicates"
                );
            }
            Err(error) => {
                metrics::counter!(IVS_EVENTS_QUEUE_ERRORS, "operation" => "delete").increment(1);
                tracing::warn!(%error, "deleting applied messages failed; they will come back as duplicates");
            }
        }
    }
}

/// Prunes the dedupe record and the rejects past the retention, hourly, in batches.
async fn prune(ctx: Ctx, stop: CancellationToken) {
    loop {
        let before = Utc::now()
            - chrono::Duration::from_std(ctx.settings.retention).unwrap_or(chrono::Duration::MAX);
        let started = Instant::now();
        loop {
            match db::broadcasts::prune(&ctx.pool, before, PRUNE_BATCH).await {
                Ok(n) if n > 0 && !stop.is_cancelled() => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "pruning applied IVS events failed");
                    break;
                }
            }
        }
        tracing::debug!(took = ?started.elapsed(), "pruned applied IVS events");
        tokio::select! {
            () = tokio::time::sleep(PRUNE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}
