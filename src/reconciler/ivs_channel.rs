//! The IVS channel of a row: found by its saved ARN or its identity tag, created when missing,
//! updated to the spec, and deleted.

use std::time::Duration;

use serde_json::json;

use super::channel::audit;
use super::step::StepError;
use super::{Ctx, adopt};
use crate::aws::ivs::Channel;
use crate::aws::{AwsError, AwsErrorKind, ivs_name};
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
    let tagged = arns_with_identity(ctx, row).await?;
    let extra = |arn: String| async move { delete(ctx, &arn, false).await };
    match adopt::keep_one(ctx, row, saved_arn, tagged, "channel_arn", extra).await? {
        Some(keep) => Ok(Some(ctx.aws.get_channel(&keep).await?)),
        None => Ok(None),
    }
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
    let created = match ctx
        .aws
        .create_channel(spec, recording_arn, desired_tags(row.id, spec))
        .await
    {
        Ok(created) => created,
        Err(e) if e.kind == AwsErrorKind::QuotaExceeded => return Err(account_full(ctx, e).await),
        Err(e) => return Err(e.into()),
    };
    let arn = created.channel.arn().unwrap_or_default();
    // The room is kept: the channel may be recreated while its room lives on.
    let partial = ChannelOutputs {
        chat_room_arn: row.outputs.0.chat_room_arn.clone(),
        chat_room_id: row.outputs.0.chat_room_id.clone(),
        ..ChannelOutputs::just_created(arn, created.channel.name())
    };
    db::claims::save_outputs(&ctx.pool, row, &partial).await?;
    // IVS took a channel beyond what it last said the account could hold: that is stale now.
    if db::tenant_limits::forget_ivs_full_if_outgrown(&ctx.pool).await? {
        tracing::info!(
            "IVS accepted more channels than when it said the account was full; the account-quota guard uses IVS_CHANNEL_QUOTA again"
        );
    }
    audit(
        ctx,
        row,
        EventKind::CreatedInIvs,
        json!({ "channel_arn": arn }),
    )
    .await?;
    Ok((created.channel, created.stream_key))
}

/// IVS refused CreateChannel because the account's channel quota is full. The channel fails
/// with a message that says so, and the account-quota guard learns how many channels the service
/// holds now, so that later creates are refused by the API (409) instead of failing here.
async fn account_full(ctx: &Ctx, error: AwsError) -> StepError {
    let held = match db::tenant_limits::record_ivs_full(&ctx.pool, &error.message).await {
        Ok(held) => held,
        Err(e) => return StepError::Database(e),
    };
    tracing::warn!(held, error = %error, "IVS says the account's channel quota is full");
    StepError::permanent(
        "ServiceQuotaExceededException",
        format!(
            "the AWS account is full: IVS refused to create the channel because the account's \
             channel quota is reached (IVS: {}). The service holds {held} IVS channels and now \
             refuses new channels beyond that. Delete channels, or raise the account's quota \
             (Service Quotas) and IVS_CHANNEL_QUOTA, then retry this channel \
             (POST /v1/channels/{{id}}/reconcile)",
            error.message
        ),
    )
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
        ..Default::default()
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
        stop_stream(ctx, arn).await?;
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

/// Stops the channel's live stream; returns whether it was live (an offline or missing channel
/// is fine).
pub async fn stop_stream(ctx: &Ctx, arn: &str) -> Result<bool, StepError> {
    match ctx.aws.stop_stream(arn).await {
        Ok(()) => Ok(true),
        Err(e)
            if matches!(
                e.kind,
                AwsErrorKind::NotBroadcasting | AwsErrorKind::NotFound
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
