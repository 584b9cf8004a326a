//! The periodic drift sweep: compares what IVS holds with what the rows say, 50 channels per
//! BatchGetChannel. A channel deleted or changed outside the service puts its row back to work
//! (the reconciler recreates or repairs it, with audit events); IVS channels carrying the
//! service's identity tag that no live row owns are reported as orphans. One sweep runs at a
//! time across all replicas (an advisory lock) and at most once per interval.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_ivs::types::Channel;
use serde_json::{Value, json};
use sqlx::types::Json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::Ctx;
use super::channel::{IDENTITY_TAG, desired_tags, list_channels, needs_update};
use super::step::StepError;
use crate::aws::errors::from_sdk;
use crate::aws::limits::CallClass;
use crate::db;
use crate::domain::channel::ChannelSpec;

/// IVS's BatchGetChannel limit.
const BATCH: usize = 50;

#[derive(Debug, Clone, sqlx::FromRow)]
struct ReadyRow {
    id: Uuid,
    spec: Json<ChannelSpec>,
    outputs: Json<Value>,
}

/// What one sweep found.
#[derive(Debug, Default)]
pub struct SweepReport {
    pub channels_checked: usize,
    pub ivs_channels_seen: usize,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub kind: &'static str,
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
    let mut conn = ctx.pool.acquire().await?;
    let locked: bool =
        sqlx::query_scalar("select pg_try_advisory_lock(hashtextextended('drift-sweep', 0))")
            .fetch_one(&mut *conn)
            .await?;
    if !locked {
        return Ok(None);
    }
    let recent: bool = sqlx::query_scalar(
        "select exists (select 1 from drift_sweeps where finished_at > now() - make_interval(secs => $1))",
    )
    .bind(interval.as_secs_f64() * 0.9)
    .fetch_one(&mut *conn)
    .await?;
    let result = if recent {
        Ok(None)
    } else {
        sweep(ctx).await.map(Some)
    };
    let _ = sqlx::query("select pg_advisory_unlock(hashtextextended('drift-sweep', 0))")
        .execute(&mut *conn)
        .await;
    result
}

/// One full sweep, recorded in `drift_sweeps` / `drift_findings`.
pub async fn sweep(ctx: &Ctx) -> Result<SweepReport, StepError> {
    let sweep_id = Uuid::now_v7();
    sqlx::query("insert into drift_sweeps (id) values ($1)")
        .bind(sweep_id)
        .execute(&ctx.pool)
        .await?;
    let rows: Vec<ReadyRow> = sqlx::query_as(
        "select id, spec, outputs from channels
          where phase = 'ready' and outputs->>'channel_arn' is not null and lease_token is null
          order by id",
    )
    .fetch_all(&ctx.pool)
    .await?;
    let mut report = SweepReport {
        channels_checked: rows.len(),
        ..Default::default()
    };
    for chunk in rows.chunks(BATCH) {
        report.findings.extend(check_batch(ctx, chunk).await?);
    }
    let (orphans, seen) = find_orphans(ctx).await?;
    report.findings.extend(orphans);
    report.ivs_channels_seen = seen;
    for finding in &report.findings {
        record(ctx, sweep_id, finding).await?;
    }
    sqlx::query(
        "update drift_sweeps set finished_at = now(), channels_checked = $2, ivs_channels_seen = $3 where id = $1",
    )
    .bind(sweep_id)
    .bind(report.channels_checked as i32)
    .bind(report.ivs_channels_seen as i32)
    .execute(&ctx.pool)
    .await?;
    Ok(report)
}

async fn check_batch(ctx: &Ctx, rows: &[ReadyRow]) -> Result<Vec<Finding>, StepError> {
    let arn_of = |row: &ReadyRow| {
        row.outputs.0["channel_arn"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    ctx.aws
        .limits
        .wait("BatchGetChannel", CallClass::IvsChannel)
        .await;
    let out = ctx
        .aws
        .ivs
        .batch_get_channel()
        .set_arns(Some(rows.iter().map(arn_of).collect()))
        .send()
        .await
        .map_err(|e| from_sdk("BatchGetChannel", e))?;
    let found: HashMap<&str, &Channel> = out
        .channels()
        .iter()
        .filter_map(|c| Some((c.arn()?, c)))
        .collect();
    let mut findings = Vec::new();
    for row in rows {
        let arn = arn_of(row);
        let finding = match found.get(arn.as_str()) {
            None => Some((
                "deleted_out_of_band",
                json!({ "reason": "IVS no longer has this channel" }),
            )),
            Some(channel) => differences(row, channel).map(|d| ("changed_out_of_band", d)),
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
fn differences(row: &ReadyRow, channel: &Channel) -> Option<Value> {
    let recording = row.outputs.0["recording_configuration_arn"].as_str();
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
async fn find_orphans(ctx: &Ctx) -> Result<(Vec<Finding>, usize), StepError> {
    let live: HashSet<String> =
        sqlx::query_scalar::<_, Uuid>("select id from channels where deleted_at is null")
            .fetch_all(&ctx.pool)
            .await?
            .into_iter()
            .map(|id| id.to_string())
            .collect();
    let summaries = list_channels(ctx, None).await?;
    let orphans = summaries
        .iter()
        .filter_map(|summary| {
            let id = summary.tags()?.get(IDENTITY_TAG)?;
            (!live.contains(id)).then(|| Finding {
                kind: "orphan",
                channel_id: None,
                channel_arn: summary.arn().unwrap_or_default().to_owned(),
                details: json!({ "identity": id, "name": summary.name() }),
            })
        })
        .collect();
    Ok((orphans, summaries.len()))
}

/// Stores a finding; a drifted row goes back to work (only if still ready and unclaimed) with
/// an audit event, and the reconciler recreates or repairs it.
async fn record(ctx: &Ctx, sweep_id: Uuid, finding: &Finding) -> Result<(), StepError> {
    let mut tx = ctx.pool.begin().await?;
    sqlx::query(
        "insert into drift_findings (sweep_id, kind, channel_id, channel_arn, details) values ($1, $2, $3, $4, $5)",
    )
    .bind(sweep_id)
    .bind(finding.kind)
    .bind(finding.channel_id)
    .bind(&finding.channel_arn)
    .bind(Json(&finding.details))
    .execute(&mut *tx)
    .await?;
    if let Some(id) = finding.channel_id {
        let requeued = sqlx::query(
            "update channels set phase = 'updating', next_attempt_at = now()
              where id = $1 and phase = 'ready' and lease_token is null",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if requeued.rows_affected() > 0 {
            let details = json!({ "kind": finding.kind, "channel_arn": finding.channel_arn, "details": finding.details });
            db::events::insert(&mut *tx, id, "drift-sweep", "drift_detected", details).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
