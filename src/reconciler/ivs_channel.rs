//! The IVS channel of a row: found by its saved ARN or its identity tag, created when missing,
//! updated to the spec, and deleted.

use std::time::Duration;

use serde_json::json;

use super::Ctx;
use super::channel::audit;
use super::step::StepError;
use crate::aws::ivs::Channel;
use crate::aws::{AwsErrorKind, ivs_name};
use crate::db::{self, claims::Claimed};
use crate::domain::channel::ChannelSpec;
use crate::domain::resources::{IDENTITY_TAG, desired_tags};
use crate::domain::{ChannelOutputs, EventKind};

/// How long to wait before trying again while IVS refuses to change a live channel.
const LIVE_RETRY: Duration = Duration::from_secs(30);

/// The row's channel in IVS, created if there is none; with the stream key when just created.
pub async fn find_or_create(
    ctx: &Ctx,
    row: &Claimed,
    recording_arn: Option<&str>,
) -> Result<(Channel, Option<String>), StepError> {
    let saved_arn = row.outputs.0.channel_arn.as_deref();
    if let Some(channel) = find(ctx, row, saved_arn).await? {
        return Ok((channel, None));
    }
    if saved_arn.is_some() {
        let details = json!({
            "reason": "the IVS channel was deleted outside the service", "channel_arn": saved_arn,
        });
        audit(ctx, row, EventKind::Recreating, details).await?;
    }
    create(ctx, row, recording_arn).await
}

/// The row's channel in IVS: by its saved ARN, else by its identity tag (a create whose
/// response was lost). Extra channels with the tag are deleted, keeping the oldest known.
async fn find(
    ctx: &Ctx,
    row: &Claimed,
    saved_arn: Option<&str>,
) -> Result<Option<Channel>, StepError> {
    if let Some(arn) = saved_arn {
        match ctx.aws.get_channel(arn).await {
            Ok(channel) => return Ok(Some(channel)),
            Err(e) if e.is_not_found() => {}
            Err(other) => return Err(other.into()),
        }
    }
    let mut tagged = arns_with_identity(ctx, row).await?;
    if tagged.is_empty() {
        return Ok(None);
    }
    tagged.sort();
    let keep = tagged.remove(0);
    for extra in &tagged {
        delete(ctx, extra, false).await?;
        let details = json!({ "channel_arn": extra });
        audit(ctx, row, EventKind::DuplicateRemoved, details).await?;
    }
    if saved_arn != Some(keep.as_str()) {
        audit(ctx, row, EventKind::Adopted, json!({ "channel_arn": keep })).await?;
    }
    Ok(Some(ctx.aws.get_channel(&keep).await?))
}

/// ARNs of the channels named like the row that carry its identity tag.
pub async fn arns_with_identity(ctx: &Ctx, row: &Claimed) -> Result<Vec<String>, StepError> {
    let id = row.id.to_string();
    let summaries = ctx.aws.list_channels(Some(&row.spec.0.name)).await?;
    Ok(summaries
        .iter()
        .filter(|s| {
            s.tags()
                .and_then(|t| t.get(IDENTITY_TAG))
                .is_some_and(|v| *v == id)
        })
        .filter_map(|s| s.arn().map(str::to_owned))
        .collect())
}

/// Creates the channel exactly once per call and saves its ARN at once.
async fn create(
    ctx: &Ctx,
    row: &Claimed,
    recording_arn: Option<&str>,
) -> Result<(Channel, Option<String>), StepError> {
    let spec = &row.spec.0;
    let created = ctx
        .aws
        .create_channel(spec, recording_arn, desired_tags(row.id, spec))
        .await?;
    let arn = created.channel.arn().unwrap_or_default();
    let partial = ChannelOutputs::just_created(arn, created.channel.name());
    db::claims::save_outputs(&ctx.pool, row, &partial).await?;
    audit(
        ctx,
        row,
        EventKind::CreatedInIvs,
        json!({ "channel_arn": arn }),
    )
    .await?;
    Ok((created.channel, created.stream_key))
}

/// The outputs a provisioned channel has.
pub fn outputs(
    channel: &Channel,
    recording_arn: Option<&str>,
    key_fingerprint: Option<&str>,
) -> ChannelOutputs {
    let arn = channel.arn().map(str::to_owned);
    ChannelOutputs {
        channel_id: arn.clone(),
        channel_arn: arn,
        channel_name: channel.name().map(str::to_owned),
        ingest_endpoint: channel.ingest_endpoint().map(str::to_owned),
        playback_url: channel.playback_url().map(str::to_owned),
        recording_configuration_arn: recording_arn.map(str::to_owned),
        playback_key_pair_fingerprint: key_fingerprint.map(str::to_owned),
    }
}

/// Whether the IVS channel differs from the spec in anything UpdateChannel sets.
pub fn needs_update(channel: &Channel, spec: &ChannelSpec, recording_arn: Option<&str>) -> bool {
    let want_preset = spec.preset.map(|p| ivs_name(&p));
    let have_preset = channel
        .preset()
        .map(|p| p.as_str().to_owned())
        .filter(|p| !p.is_empty());
    channel.r#type().map(|t| t.as_str()) != Some(ivs_name(&spec.channel_type).as_str())
        || channel.latency_mode().map(|m| m.as_str()) != Some(ivs_name(&spec.latency_mode).as_str())
        || channel.authorized() != spec.authorized
        || channel.insecure_ingest() != spec.insecure_ingest
        || (want_preset.is_some() && want_preset != have_preset)
        || channel
            .recording_configuration_arn()
            .filter(|a| !a.is_empty())
            != recording_arn
}

pub async fn update(
    ctx: &Ctx,
    arn: &str,
    spec: &ChannelSpec,
    recording_arn: Option<&str>,
) -> Result<(), StepError> {
    match ctx.aws.update_channel(arn, spec, recording_arn).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind == AwsErrorKind::Conflict => Err(StepError::defer(
            "the channel is live and IVS cannot update a live channel; the change is applied when the broadcast ends",
            LIVE_RETRY,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Deletes an IVS channel (stopping its stream first with `force`); one already gone is fine.
pub async fn delete(ctx: &Ctx, arn: &str, force: bool) -> Result<(), StepError> {
    if force {
        match ctx.aws.stop_stream(arn).await {
            Err(e)
                if !matches!(
                    e.kind,
                    AwsErrorKind::NotBroadcasting | AwsErrorKind::NotFound
                ) =>
            {
                return Err(e.into());
            }
            _ => {}
        }
    }
    match ctx.aws.delete_channel(arn).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) if e.kind == AwsErrorKind::Conflict => Err(StepError::defer(
            "the channel is live; it is deleted when the broadcast ends (or DELETE with ?force=true to stop it)",
            LIVE_RETRY,
        )),
        Err(e) => Err(e.into()),
    }
}
