//! The periodic drift sweep: compares what IVS holds with what the rows say, 50 channels per
//! BatchGetChannel. A channel deleted or changed outside the service puts its row back to work
//! (the reconciler recreates or repairs it, with audit events); IVS channels carrying the
//! service's identity tag that no live row owns are reported as orphans. Chat rooms are checked
//! the same way (deleted ones recreated, stray ones reported). One sweep runs at a
//! time across all replicas (an advisory lock) and at most once per interval.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Ctx;
use super::ivs_channel::needs_update;
use super::step::StepError;
use crate::aws::BATCH_GET_MAX;
use crate::aws::ivs::Channel;
use crate::db::channels::ReadyChannel;
use crate::db::drift::FindingKind;
use crate::db::{self, locks::AdvisoryLock};
use crate::domain::EventKind;
use crate::domain::event::actor::DRIFT_SWEEP;
use crate::domain::resources::{IDENTITY_TAG, desired_tags};

/// The advisory lock that lets one replica sweep at a time.
const SWEEP_LOCK: &str = "drift-sweep";

/// What one sweep found.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub channels_checked: usize,
    pub ivs_channels_seen: usize,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: FindingKind,
    pub channel_id: Option<Uuid>,
    pub channel_arn: String,
    pub details: Value,
}

/// Sweeps every `interval` until stopped. An interval of zero disables the sweep.
pub async fn run_periodically(ctx: Ctx, interval: Duration, stop: CancellationToken) {
    if interval.is_zero() {
        return;
    }
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
        match sweep_if_due(&ctx, interval).await {
            Ok(Some(report)) => tracing::info!(
                checked = report.channels_checked,
                findings = report.findings.len(),
                "drift sweep finished"
            ),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "drift sweep failed; the next one retries"),
        }
    }
}

/// Sweeps unless another replica is sweeping or swept within `interval`.
pub async fn sweep_if_due(ctx: &Ctx, interval: Duration) -> Result<Option<SweepReport>, StepError> {
    let Some(mut lock) = AdvisoryLock::try_acquire(&ctx.pool, SWEEP_LOCK).await? else {
        return Ok(None);
    };
    let recent = db::drift::finished_within(lock.connection(), interval.as_secs_f64() * 0.9).await;
    let result = match recent {
        Ok(true) => Ok(None),
        Ok(false) => sweep(ctx).await.map(Some),
        Err(e) => Err(e.into()),
    };
    lock.release().await;
    result
}

/// One full sweep, recorded in `drift_sweeps` / `drift_findings`.
pub async fn sweep(ctx: &Ctx) -> Result<SweepReport, StepError> {
    let sweep_id = Uuid::now_v7();
    db::drift::start(&ctx.pool, sweep_id).await?;
    let rows = db::channels::ready_unleased(&ctx.pool).await?;
    let mut report = SweepReport {
        channels_checked: rows.len(),
        ..Default::default()
    };
    for chunk in rows.chunks(BATCH_GET_MAX) {
        report.findings.extend(check_batch(ctx, chunk).await?);
    }
    let live: HashSet<String> = db::channels::live_ids(&ctx.pool)
        .await?
        .into_iter()
        .map(|id| id.to_string())
        .collect();
    let (orphans, seen) = find_orphans(ctx, &live).await?;
    report.findings.extend(orphans);
    report
        .findings
        .extend(check_rooms(ctx, &rows, &live).await?);
    report.ivs_channels_seen = seen;
    for finding in &report.findings {
        record(ctx, sweep_id, finding).await?;
    }
    db::drift::finish(
        &ctx.pool,
        sweep_id,
        report.channels_checked,
        report.ivs_channels_seen,
    )
    .await?;
    Ok(report)
}

fn arn_of(row: &ReadyChannel) -> String {
    row.outputs.0.channel_arn.clone().unwrap_or_default()
}

async fn check_batch(ctx: &Ctx, rows: &[ReadyChannel]) -> Result<Vec<Finding>, StepError> {
    let channels = ctx
        .aws
        .batch_get_channel(rows.iter().map(arn_of).collect())
        .await?;
    let found: HashMap<&str, &Channel> = channels
        .iter()
        .filter_map(|c| Some((c.arn()?, c)))
        .collect();
    let mut findings = Vec::new();
    for row in rows {
        let arn = arn_of(row);
        let finding = match found.get(arn.as_str()) {
            None => Some((
                FindingKind::DeletedOutOfBand,
                json!({ "reason": "IVS no longer has this channel" }),
            )),
            Some(channel) => differences(row, channel).map(|d| (FindingKind::ChangedOutOfBand, d)),
        };
        if let Some((kind, details)) = finding {
            findings.push(Finding {
                kind,
                channel_id: Some(row.id),
                channel_arn: arn,
                details,
            });
        }
    }
    Ok(findings)
}

/// What differs between the IVS channel and the row, if anything.
fn differences(row: &ReadyChannel, channel: &Channel) -> Option<Value> {
    let recording = row.outputs.0.recording_configuration_arn.as_deref();
    let settings_differ = needs_update(channel, &row.spec.0, recording);
    let want = desired_tags(row.id, &row.spec.0);
    let have = channel.tags().cloned().unwrap_or_default();
    let have: HashMap<String, String> = have
        .into_iter()
        .filter(|(k, _)| !k.to_ascii_lowercase().starts_with("aws:"))
        .collect();
    let tags_differ = have != want;
    (settings_differ || tags_differ).then(|| {
        json!({
            "settings_differ": settings_differ,
            "tags_differ": tags_differ,
            "ivs": {
                "type": channel.r#type().map(|t| t.as_str()),
                "latency_mode": channel.latency_mode().map(|m| m.as_str()),
                "authorized": channel.authorized(),
                "insecure_ingest": channel.insecure_ingest(),
                "recording_configuration_arn": channel.recording_configuration_arn(),
            },
        })
    })
}

/// IVS channels with the service's identity tag whose row is gone or deleted.
async fn find_orphans(
    ctx: &Ctx,
    live: &HashSet<String>,
) -> Result<(Vec<Finding>, usize), StepError> {
    let summaries = ctx.aws.list_channels(None).await?;
    let orphans = summaries
        .iter()
        .filter_map(|summary| {
            let id = summary.tags()?.get(IDENTITY_TAG)?;
            (!live.contains(id)).then(|| Finding {
                kind: FindingKind::Orphan,
                channel_id: None,
                channel_arn: summary.arn().unwrap_or_default().to_owned(),
                details: json!({ "identity": id, "name": summary.name() }),
            })
        })
        .collect();
    Ok((orphans, summaries.len()))
}

/// Chat rooms, one ListRooms listing for all: a ready channel whose room IVS Chat no longer has
/// (IVS deletes rooms that stay idle for long) goes back to work and the reconciler recreates
/// the room; a room with the identity tag that no live channel owns, or that is not the room
/// its ready channel uses, is reported as an orphan. Skipped while no ready channel has a room,
/// so a deployment without chat needs no IVS Chat permissions.
async fn check_rooms(
    ctx: &Ctx,
    rows: &[ReadyChannel],
    live: &HashSet<String>,
) -> Result<Vec<Finding>, StepError> {
    let with_room: HashMap<String, &ReadyChannel> = rows
        .iter()
        .filter_map(|r| Some((r.outputs.0.chat_room_arn.clone()?, r)))
        .collect();
    if with_room.is_empty() {
        return Ok(Vec::new());
    }
    let rooms = ctx.aws.list_rooms(None).await?;
    let seen: HashSet<&str> = rooms.iter().filter_map(|r| r.arn()).collect();
    let mut findings: Vec<Finding> = with_room
        .iter()
        .filter(|(room, _)| !seen.contains(room.as_str()))
        .map(|(room, row)| Finding {
            kind: FindingKind::DeletedOutOfBand,
            channel_id: Some(row.id),
            channel_arn: arn_of(row),
            details: json!({ "reason": "IVS Chat no longer has this channel's room", "chat_room_arn": room }),
        })
        .collect();
    let ready_ids: HashSet<String> = rows.iter().map(|r| r.id.to_string()).collect();
    findings.extend(rooms.iter().filter_map(|room| {
        let id = room.tags()?.get(IDENTITY_TAG)?;
        let arn = room.arn()?;
        let owned = live.contains(id) && (!ready_ids.contains(id) || with_room.contains_key(arn));
        (!owned).then(|| Finding {
            kind: FindingKind::Orphan,
            channel_id: None,
            channel_arn: arn.to_owned(),
            details: json!({ "identity": id, "name": room.name(), "chat_room": true }),
        })
    }));
    Ok(findings)
}

/// Stores a finding; a drifted row goes back to work (only if still ready and unclaimed) with
/// an audit event, and the reconciler recreates or repairs it.
async fn record(ctx: &Ctx, sweep_id: Uuid, finding: &Finding) -> Result<(), StepError> {
    let mut tx = ctx.pool.begin().await?;
    db::drift::insert_finding(
        &mut *tx,
        sweep_id,
        finding.kind,
        finding.channel_id,
        &finding.channel_arn,
        &finding.details,
    )
    .await?;
    if let Some(id) = finding.channel_id
        && db::channels::requeue_if_ready(&mut *tx, id).await?
    {
        let kind: &str = finding.kind.into();
        let details =
            json!({ "kind": kind, "channel_arn": finding.channel_arn, "details": finding.details });
        let kind = EventKind::DriftDetected;
        db::webhooks::record_channel_event(&mut tx, id, DRIFT_SWEEP, kind, details).await?;
    }
    tx.commit().await?;
    Ok(())
}
