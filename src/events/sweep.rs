//! The gap-filling sweep: IVS's events are best effort (and intake may be off), so every tick
//! the sweep visits a budget of channels, the least recently swept first, and records what IVS
//! and S3 know that the facts lack: the channel's stream sessions (ListStreamSessions, then
//! GetStreamSession for a session not yet stored with its end) and its recordings (S3
//! ListObjectsV2 under `ivs/v1/<account>/<channel_id>/`, then GetObject of each incomplete
//! recording's `events/recording-ended.json`, or `recording-failed.json`, or
//! `recording-started.json`). Facts go through the same db functions as the intake's, with
//! source `sweep`, so each audit entry is written once whichever finds it first.
//!
//! Pacing: at most `EVENTS_SWEEP_CHANNELS` channels a tick, every `EVENTS_SWEEP_INTERVAL_SECS`,
//! and at most as many GetStreamSession and GetObject calls a tick; every call also waits on
//! the facade's per-operation limiter. One replica sweeps at a time (an advisory lock), so
//! the budget is the account's, not each replica's.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::aws::{Aws, AwsError, StreamSessionInfo};
use crate::db::{self, broadcast_sweep::SweepChannel};
use crate::domain::broadcast::{
    FactSource, HealthChange, SessionFact, StreamError, StreamHealth, recording_fact_from_metadata,
};
use crate::metrics::IVS_SWEEP_FINDINGS;

/// The advisory lock that lets one replica sweep at a time.
const LOCK: &str = "broadcast-sweep";
/// Sessions looked at per channel: the latest ones (a class channel has a few).
const SESSIONS_PER_CHANNEL: i32 = 10;
/// The metadata files of a recording, the most complete first.
const METADATA: [&str; 3] = [
    "events/recording-ended.json",
    "events/recording-failed.json",
    "events/recording-started.json",
];

/// The sweep's settings.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// Seconds between sweep ticks (0 = no sweep in this process).
    #[arg(long, env = "EVENTS_SWEEP_INTERVAL_SECS", default_value_t = 30)]
    pub events_sweep_interval_secs: u64,
    /// Channels visited per tick; also the most GetStreamSession and the most S3 GetObject
    /// calls a tick.
    #[arg(long, env = "EVENTS_SWEEP_CHANNELS", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub events_sweep_channels: u32,
    /// Hours after its deletion a channel is still swept (its last recording lands in S3
    /// after the broadcast ends).
    #[arg(long, env = "EVENTS_SWEEP_LOOKBACK_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=720))]
    pub events_sweep_lookback_hours: u64,
}

/// What the sweep needs.
#[derive(Clone)]
pub struct SweepCtx {
    pub pool: PgPool,
    pub aws: Aws,
    pub channels_per_tick: usize,
    pub lookback: Duration,
}

impl SweepArgs {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.events_sweep_interval_secs)
    }

    pub fn ctx(&self, pool: PgPool, aws: Aws) -> SweepCtx {
        SweepCtx {
            pool,
            aws,
            channels_per_tick: self.events_sweep_channels as usize,
            lookback: Duration::from_secs(self.events_sweep_lookback_hours * 3600),
        }
    }
}

/// What one tick found and recorded.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub channels: usize,
    pub sessions: usize,
    pub recordings: usize,
}

/// Sweeps every `interval` until `stop`; a failed tick is logged and the next one tries again.
pub async fn run_periodically(ctx: SweepCtx, interval: Duration, stop: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    loop {
        match db::locks::with_lock(&ctx.pool, LOCK, tick(&ctx)).await {
            Ok(Some(report)) => tracing::debug!(?report, "broadcast sweep"),
            Ok(None) => tracing::debug!("another replica is sweeping"),
            Err(error) => tracing::warn!(%error, "broadcast sweep failed; next tick retries"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One tick: the next channels by the budget, each swept; a channel whose AWS calls fail is
/// left for its next turn (its swept time is still moved on, so one broken channel never
/// starves the others).
pub async fn tick(ctx: &SweepCtx) -> anyhow::Result<SweepReport> {
    let channels =
        db::broadcast_sweep::next(&ctx.pool, ctx.channels_per_tick as i64, ctx.lookback).await?;
    let mut budget = Budget {
        sessions: ctx.channels_per_tick,
        objects: ctx.channels_per_tick,
    };
    let mut report = SweepReport {
        channels: channels.len(),
        ..Default::default()
    };
    for channel in &channels {
        match sweep_channel(ctx, channel, &mut budget).await {
            Ok((sessions, recordings)) => {
                report.sessions += sessions;
                report.recordings += recordings;
            }
            Err(error) => {
                tracing::warn!(channel = %channel.id, %error, "sweeping a channel failed");
            }
        }
    }
    let ids: Vec<_> = channels.iter().map(|c| c.id).collect();
    db::broadcast_sweep::mark_swept(&ctx.pool, &ids).await?;
    Ok(report)
}

/// The detail calls a tick may still make.
struct Budget {
    sessions: usize,
    objects: usize,
}

async fn sweep_channel(
    ctx: &SweepCtx,
    channel: &SweepChannel,
    budget: &mut Budget,
) -> anyhow::Result<(usize, usize)> {
    let sessions = sweep_sessions(ctx, channel, budget).await?;
    let recordings = match &channel.bucket {
        Some(bucket) => sweep_recordings(ctx, channel, bucket, budget).await?,
        None => 0,
    };
    Ok((sessions, recordings))
}

/// Sessions IVS lists that are not stored with their end, read in full while the budget lasts
/// (else recorded with the listing's times) and recorded.
async fn sweep_sessions(
    ctx: &SweepCtx,
    channel: &SweepChannel,
    budget: &mut Budget,
) -> anyhow::Result<usize> {
    let listed = ctx
        .aws
        .list_stream_sessions(&channel.arn, SESSIONS_PER_CHANNEL)
        .await?;
    let ids: Vec<String> = listed.iter().map(|s| s.stream_id.clone()).collect();
    let ended = db::broadcast_sweep::ended_sessions(&ctx.pool, &ids).await?;
    let mut recorded = 0;
    for session in listed.into_iter().filter(|s| !ended.contains(&s.stream_id)) {
        let session = if budget.sessions > 0 {
            budget.sessions -= 1;
            full_session(&ctx.aws, &channel.arn, session).await?
        } else {
            session
        };
        let mut tx = ctx.pool.begin().await?;
        let fact = session_fact(&session);
        let broadcast = channel.broadcast_channel();
        db::broadcasts::record_session_fact(&mut tx, &broadcast, &fact, FactSource::Sweep).await?;
        tx.commit().await?;
        metrics::counter!(IVS_SWEEP_FINDINGS, "kind" => "session").increment(1);
        recorded += 1;
    }
    Ok(recorded)
}

/// GetStreamSession's view of a listed session; the listing's when IVS no longer has it.
async fn full_session(
    aws: &Aws,
    arn: &str,
    listed: StreamSessionInfo,
) -> Result<StreamSessionInfo, AwsError> {
    match aws.get_stream_session(arn, &listed.stream_id).await {
        Ok(full) => Ok(full),
        Err(e) if e.is_not_found() => Ok(listed),
        Err(e) => Err(e),
    }
}

/// A session as a fact: its times, starvation changes as health, failures as errors.
pub fn session_fact(session: &StreamSessionInfo) -> SessionFact {
    let mut fact = SessionFact::new(&session.stream_id);
    fact.started_at = session.started_at;
    fact.ended_at = session.ended_at;
    for (name, at, code) in &session.events {
        match name.as_str() {
            "Starvation Start" => fact.health.push(health(*at, StreamHealth::Starving)),
            "Starvation End" => fact.health.push(health(*at, StreamHealth::Healthy)),
            "Stream Failure" | "Stream Takeover Failure" => fact.errors.push(StreamError {
                at: *at,
                event: name.clone(),
                code: code.clone().filter(|c| !c.is_empty()),
                message: None,
            }),
            _ => {}
        }
    }
    fact
}

fn health(at: DateTime<Utc>, state: StreamHealth) -> HealthChange {
    HealthChange { at, state }
}

/// The recordings under the channel's S3 prefix that are not complete in the facts: each one's
/// most complete metadata file read (while the budget lasts) and recorded.
async fn sweep_recordings(
    ctx: &SweepCtx,
    channel: &SweepChannel,
    bucket: &str,
    budget: &mut Budget,
) -> anyhow::Result<usize> {
    let Some(prefix) = channel_prefix(&channel.arn) else {
        return Ok(0);
    };
    let objects = ctx.aws.list_objects(bucket, &prefix).await?;
    let found = metadata_files(objects.iter().map(|o| o.key.as_str()));
    let ids: Vec<String> = found.keys().cloned().collect();
    let complete = db::broadcast_sweep::complete_recordings(&ctx.pool, channel.id, &ids).await?;
    let mut recorded = 0;
    for (recording_id, (recording_prefix, key)) in found {
        if complete.contains(&recording_id) || budget.objects == 0 {
            continue;
        }
        budget.objects -= 1;
        let body = ctx.aws.get_object(bucket, &key).await?;
        let Ok(metadata) = serde_json::from_slice(&body) else {
            tracing::warn!(bucket, key, "a recording's metadata is not JSON; skipped");
            continue;
        };
        let Some(fact) = recording_fact_from_metadata(bucket, &recording_prefix, &metadata) else {
            continue;
        };
        let mut tx = ctx.pool.begin().await?;
        let broadcast = channel.broadcast_channel();
        db::broadcasts::record_recording_fact(&mut tx, &broadcast, &fact, FactSource::Sweep)
            .await?;
        tx.commit().await?;
        metrics::counter!(IVS_SWEEP_FINDINGS, "kind" => "recording").increment(1);
        recorded += 1;
    }
    Ok(recorded)
}

/// `ivs/v1/<account>/<channel_id>/` from `arn:aws:ivs:<region>:<account>:channel/<channel_id>`.
pub fn channel_prefix(arn: &str) -> Option<String> {
    let mut parts = arn.split(':');
    let account = parts.nth(4).filter(|a| !a.is_empty())?;
    let channel_id = parts.next()?.strip_prefix("channel/")?;
    Some(format!("ivs/v1/{account}/{channel_id}/"))
}

/// Each recording's most complete metadata file among `keys`: recording id → (its prefix, the
/// file's key).
pub fn metadata_files<'a>(
    keys: impl Iterator<Item = &'a str>,
) -> BTreeMap<String, (String, String)> {
    let mut best: BTreeMap<String, (usize, String, String)> = BTreeMap::new();
    for key in keys {
        let Some((rank, prefix)) = METADATA
            .iter()
            .enumerate()
            .find_map(|(rank, file)| Some((rank, key.strip_suffix(file)?)))
        else {
            continue;
        };
        let prefix = prefix.trim_end_matches('/');
        let Some(id) = crate::domain::broadcast::recording_id_of_prefix(prefix) else {
            continue;
        };
        let better = best.get(&id).is_none_or(|(held, _, _)| rank < *held);
        if better {
            best.insert(id, (rank, prefix.to_owned(), key.to_owned()));
        }
    }
    best.into_iter()
        .map(|(id, (_, prefix, key))| (id, (prefix, key)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channels_prefix_comes_from_its_arn() {
        assert_eq!(
            channel_prefix("arn:aws:ivs:us-east-1:123456789012:channel/AbCd1234").as_deref(),
            Some("ivs/v1/123456789012/AbCd1234/")
        );
        assert_eq!(channel_prefix("arn:aws:ivs:us-east-1::channel/x"), None);
        assert_eq!(channel_prefix("not an arn"), None);
    }

    #[test]
    fn the_most_complete_metadata_file_of_each_recording_is_chosen() {
        let p = "ivs/v1/1/c/2026/12/2/10/5/rec1";
        let q = "ivs/v1/1/c/2026/12/2/11/0/rec2";
        let keys = [
            format!("{p}/events/recording-started.json"),
            format!("{p}/media/hls/master.m3u8"),
            format!("{p}/events/recording-ended.json"),
            format!("{q}/events/recording-started.json"),
        ];
        let found = metadata_files(keys.iter().map(String::as_str));
        assert_eq!(
            found["rec1"],
            (p.to_owned(), format!("{p}/events/recording-ended.json"))
        );
        assert_eq!(
            found["rec2"].1,
            format!("{q}/events/recording-started.json")
        );
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn starvation_becomes_health_and_failures_errors() {
        let at = Utc::now();
        let session = StreamSessionInfo {
            stream_id: "st-1".into(),
            started_at: Some(at),
            ended_at: None,
            events: vec![
                ("Starvation Start".into(), at, None),
                ("Stream Failure".into(), at, Some("".into())),
                ("Session Created".into(), at, None),
            ],
        };
        let fact = session_fact(&session);
        assert_eq!(fact.health, vec![health(at, StreamHealth::Starving)]);
        assert_eq!(fact.errors.len(), 1);
        assert_eq!(fact.errors[0].code, None);
    }
}
