//! One reconcile of one channel row: provision or update it in IVS and SSM, or delete it.
//!
//! Crash safety (DESIGN.md §5): every channel carries an identity tag naming its row. Before any
//! CreateChannel the reconciler looks for channels with that tag and adopts one (deleting any
//! extra), and it saves the ARN the moment it is known, so a crash at any point leaves at most
//! one channel, which the next attempt adopts.

use std::collections::HashMap;

use aws_sdk_ivs::types::{
    Channel, ChannelLatencyMode, ChannelSummary, ChannelType, TranscodePreset,
};
use serde::Serialize;
use serde_json::{Value, json};

use super::claims::{self, Claimed};
use super::step::StepError;
use super::{Ctx, publish, shared};
use crate::aws::errors::from_sdk;
use crate::aws::limits::CallClass;
use crate::aws::{Aws, AwsError, no_retry};
use crate::db;
use crate::domain::channel::{ChannelSpec, RESERVED_TAG_PREFIX};
use crate::playback_keys::lifecycle;

pub const IDENTITY_TAG: &str = "ivs-provisioner:id";
const ACTOR: &str = "reconciler";

/// The IVS string of one of our enums (they serialize exactly as IVS spells them).
fn ivs_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Every tag the channel must carry: the seed's, the tenant, the identity tag, the caller's.
pub fn desired_tags(id: uuid::Uuid, spec: &ChannelSpec) -> HashMap<String, String> {
    let mut tags: HashMap<String, String> = spec.tags.clone().into_iter().collect();
    tags.insert("Name".into(), spec.name.clone());
    tags.insert("ManagedBy".into(), "ivs-provisioner".into());
    tags.insert("Tenant".into(), spec.tenant.clone());
    tags.insert(IDENTITY_TAG.into(), id.to_string());
    tags
}

/// Reconciles one claimed row to its desired state.
pub async fn reconcile(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let deleting =
        row.phase == "deleting" || row.delete_after.is_some_and(|at| at <= chrono::Utc::now());
    if deleting {
        if row.phase != "deleting" {
            claims::set_phase(&ctx.pool, row, "deleting").await?;
            db::events::insert(
                &ctx.pool,
                row.id,
                ACTOR,
                "delete_after_reached",
                json!({ "delete_after": row.delete_after }),
            )
            .await?;
        }
        return delete(ctx, row).await;
    }
    provision(ctx, row).await
}

async fn provision(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let spec = &row.spec.0;
    let recording_arn = match &spec.recording {
        Some(recording) => Some(shared::ensure_recording(ctx, recording).await?),
        None => None,
    };
    // A private channel's tokens verify against the caller's key if it brought one, else
    // against the service's managed key (imported once for every channel).
    let key_fingerprint = match (&spec.playback_public_key_pem, spec.authorized) {
        (Some(pem), _) => Some(shared::ensure_caller_key(ctx, pem).await?),
        (None, true) => lifecycle::managed_fingerprint(&ctx.pool, &ctx.aws).await?,
        (None, false) => None,
    };

    let mut outputs = row.outputs.0.clone();
    let saved_arn = outputs
        .get("channel_arn")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut created_key = None;
    let channel = match find_channel(ctx, row, saved_arn.as_deref()).await? {
        Some(channel) => channel,
        None => {
            if saved_arn.is_some() {
                db::events::insert(&ctx.pool, row.id, ACTOR, "recreating", json!({
                    "reason": "the IVS channel was deleted outside the service", "channel_arn": saved_arn,
                }))
                .await?;
            }
            let (channel, key) = create_channel(ctx, row, recording_arn.as_deref()).await?;
            created_key = key;
            channel
        }
    };
    let arn = channel.arn().unwrap_or_default().to_owned();
    set_outputs(
        &mut outputs,
        &channel,
        recording_arn.as_deref(),
        key_fingerprint.as_deref(),
    );
    claims::save_outputs(&ctx.pool, row, &outputs).await?;

    let previous_recording = channel
        .recording_configuration_arn()
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if needs_update(&channel, spec, recording_arn.as_deref()) {
        update_channel(ctx, &arn, spec, recording_arn.as_deref()).await?;
        db::events::insert(
            &ctx.pool,
            row.id,
            ACTOR,
            "applied",
            json!({ "generation": row.generation }),
        )
        .await?;
    }
    sync_tags(
        ctx,
        &arn,
        channel.tags(),
        &desired_tags(row.id, &row.spec.0),
    )
    .await?;

    let rotation = row.stream_key_rotation_requested_at;
    let stream_key = match (created_key, rotation) {
        (Some(key), _) => key,
        (None, Some(_)) => rotate_stream_key(ctx, &arn).await?,
        (None, None) => read_stream_key(ctx, &arn).await?,
    };
    let tags = vec![
        ("ManagedBy".to_owned(), "ivs-provisioner".to_owned()),
        ("Tenant".to_owned(), spec.tenant.clone()),
        (IDENTITY_TAG.to_owned(), row.id.to_string()),
    ];
    let params = publish::parameters(
        &ctx.settings.ssm_prefix,
        &spec.tenant,
        &spec.name,
        channel.ingest_endpoint().unwrap_or_default(),
        &stream_key,
        channel.playback_url().unwrap_or_default(),
    );
    publish::publish(ctx, &params, &tags).await?;
    if let Some(requested_at) = rotation {
        claims::finish_stream_key_rotation(&ctx.pool, row, requested_at).await?;
        db::events::insert(
            &ctx.pool,
            row.id,
            ACTOR,
            "stream_key_rotated",
            json!({ "requested_at": requested_at }),
        )
        .await?;
    }

    if previous_recording.is_some() && previous_recording != recording_arn {
        release_recording_by_arn(ctx, row, previous_recording.as_deref().unwrap_or_default())
            .await?;
    }
    let previous_key = row
        .outputs
        .0
        .get("playback_key_pair_fingerprint")
        .and_then(Value::as_str);
    if let Some(previous) = previous_key.filter(|p| Some(*p) != key_fingerprint.as_deref())
        && let Some(pem) = shared::caller_key_pem(&ctx.pool, previous).await?
    {
        shared::release_caller_key(ctx, &pem, row.id).await?;
    }
    claims::finish_ready(&ctx.pool, row, &outputs).await?;
    db::events::insert(
        &ctx.pool,
        row.id,
        ACTOR,
        "ready",
        json!({ "generation": row.generation, "channel_arn": arn }),
    )
    .await?;
    Ok(())
}

fn set_outputs(
    outputs: &mut Value,
    channel: &Channel,
    recording: Option<&str>,
    fingerprint: Option<&str>,
) {
    let arn = channel.arn();
    *outputs = json!({
        "channel_arn": arn,
        "channel_id": arn,
        "channel_name": channel.name(),
        "ingest_endpoint": channel.ingest_endpoint(),
        "playback_url": channel.playback_url(),
        "recording_configuration_arn": recording,
        "playback_key_pair_fingerprint": fingerprint.or_else(|| outputs.get("playback_key_pair_fingerprint").and_then(Value::as_str)),
    });
}

/// The row's channel in IVS: by its saved ARN, else by its identity tag (a create whose
/// response was lost). Extra channels with the tag are deleted, keeping the oldest known.
async fn find_channel(
    ctx: &Ctx,
    row: &Claimed,
    saved_arn: Option<&str>,
) -> Result<Option<Channel>, StepError> {
    if let Some(arn) = saved_arn {
        match get_channel(ctx, arn).await {
            Ok(channel) => return Ok(Some(channel)),
            Err(StepError::Aws(e)) if e.is_not_found() => {}
            Err(other) => return Err(other),
        }
    }
    let mut tagged = channels_with_identity(ctx, row).await?;
    if tagged.is_empty() {
        return Ok(None);
    }
    tagged.sort();
    let keep = tagged.remove(0);
    for extra in &tagged {
        delete_ivs_channel(ctx, extra, false).await?;
        db::events::insert(
            &ctx.pool,
            row.id,
            ACTOR,
            "duplicate_removed",
            json!({ "channel_arn": extra }),
        )
        .await?;
    }
    if saved_arn != Some(keep.as_str()) {
        db::events::insert(
            &ctx.pool,
            row.id,
            ACTOR,
            "adopted",
            json!({ "channel_arn": keep }),
        )
        .await?;
    }
    Ok(Some(get_channel(ctx, &keep).await?))
}

/// Every channel summary IVS lists, all pages, optionally filtered by name.
pub async fn list_channels(
    ctx: &Ctx,
    name: Option<&str>,
) -> Result<Vec<ChannelSummary>, StepError> {
    let mut all = Vec::new();
    let mut next: Option<String> = None;
    loop {
        ctx.aws
            .limits
            .wait("ListChannels", CallClass::IvsChannel)
            .await;
        let page = ctx
            .aws
            .ivs
            .list_channels()
            .set_filter_by_name(name.map(str::to_owned))
            .max_results(100)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| from_sdk("ListChannels", e))?;
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        all.extend(page.channels);
        if next.is_none() {
            return Ok(all);
        }
    }
}

/// ARNs of the channels named like the row that carry its identity tag.
pub async fn channels_with_identity(ctx: &Ctx, row: &Claimed) -> Result<Vec<String>, StepError> {
    let id = row.id.to_string();
    let summaries = list_channels(ctx, Some(&row.spec.0.name)).await?;
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

async fn get_channel(ctx: &Ctx, arn: &str) -> Result<Channel, StepError> {
    ctx.aws
        .limits
        .wait("GetChannel", CallClass::IvsChannel)
        .await;
    let out = ctx
        .aws
        .ivs
        .get_channel()
        .arn(arn)
        .send()
        .await
        .map_err(|e| from_sdk("GetChannel", e))?;
    out.channel
        .ok_or_else(|| StepError::Internal(anyhow::anyhow!("GetChannel returned no channel")))
}

/// Creates the channel exactly once per call (no SDK retry) and saves its ARN at once.
async fn create_channel(
    ctx: &Ctx,
    row: &Claimed,
    recording_arn: Option<&str>,
) -> Result<(Channel, Option<String>), StepError> {
    let spec = &row.spec.0;
    ctx.aws
        .limits
        .wait("CreateChannel", CallClass::IvsChannel)
        .await;
    let out = ctx
        .aws
        .ivs
        .create_channel()
        .name(&spec.name)
        .r#type(ChannelType::from(ivs_name(&spec.channel_type).as_str()))
        .latency_mode(ChannelLatencyMode::from(
            ivs_name(&spec.latency_mode).as_str(),
        ))
        .authorized(spec.authorized)
        .insecure_ingest(spec.insecure_ingest)
        .set_preset(
            spec.preset
                .map(|p| TranscodePreset::from(ivs_name(&p).as_str())),
        )
        .set_recording_configuration_arn(recording_arn.map(str::to_owned))
        .set_tags(Some(desired_tags(row.id, &row.spec.0)))
        .customize()
        .config_override(aws_sdk_ivs::config::Config::builder().retry_config(no_retry()))
        .send()
        .await
        .map_err(|e| from_sdk("CreateChannel", e))?;
    let channel = out
        .channel
        .ok_or_else(|| StepError::Internal(anyhow::anyhow!("CreateChannel returned no channel")))?;
    let partial = json!({ "channel_arn": channel.arn(), "channel_id": channel.arn(), "channel_name": channel.name() });
    claims::save_outputs(&ctx.pool, row, &partial).await?;
    db::events::insert(
        &ctx.pool,
        row.id,
        ACTOR,
        "created_in_ivs",
        json!({ "channel_arn": channel.arn() }),
    )
    .await?;
    let key = out.stream_key.and_then(|k| k.value);
    Ok((channel, key))
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

async fn update_channel(
    ctx: &Ctx,
    arn: &str,
    spec: &ChannelSpec,
    recording_arn: Option<&str>,
) -> Result<(), StepError> {
    ctx.aws
        .limits
        .wait("UpdateChannel", CallClass::IvsChannel)
        .await;
    ctx.aws
        .ivs
        .update_channel()
        .arn(arn)
        .r#type(ChannelType::from(ivs_name(&spec.channel_type).as_str()))
        .latency_mode(ChannelLatencyMode::from(ivs_name(&spec.latency_mode).as_str()))
        .authorized(spec.authorized)
        .insecure_ingest(spec.insecure_ingest)
        .set_preset(spec.preset.map(|p| TranscodePreset::from(ivs_name(&p).as_str())))
        .recording_configuration_arn(recording_arn.unwrap_or_default())
        .send()
        .await
        .map_err(|e| {
            let error = from_sdk("UpdateChannel", e);
            if error.is_code("ConflictException") {
                StepError::defer("the channel is live and IVS cannot update a live channel; the change is applied when the broadcast ends", std::time::Duration::from_secs(30))
            } else {
                error.into()
            }
        })?;
    Ok(())
}

/// Adds missing or changed tags and removes caller tags that are no longer wanted.
async fn sync_tags(
    ctx: &Ctx,
    arn: &str,
    have: Option<&HashMap<String, String>>,
    want: &HashMap<String, String>,
) -> Result<(), StepError> {
    let empty = HashMap::new();
    let have = have.unwrap_or(&empty);
    let missing: HashMap<String, String> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stale: Vec<String> = have
        .keys()
        .filter(|k| {
            !want.contains_key(*k)
                && !k.to_ascii_lowercase().starts_with("aws:")
                && !k.starts_with(RESERVED_TAG_PREFIX)
        })
        .cloned()
        .collect();
    if !missing.is_empty() {
        ctx.aws.limits.wait("TagResource", CallClass::IvsTag).await;
        ctx.aws
            .ivs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(missing))
            .send()
            .await
            .map_err(|e| from_sdk("TagResource", e))?;
    }
    if !stale.is_empty() {
        ctx.aws
            .limits
            .wait("UntagResource", CallClass::IvsTag)
            .await;
        ctx.aws
            .ivs
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(stale))
            .send()
            .await
            .map_err(|e| from_sdk("UntagResource", e))?;
    }
    Ok(())
}

/// The channel's stream key (IVS keeps one per channel); made if missing, which also repairs a
/// rotation interrupted between its delete and its create.
pub async fn read_stream_key(ctx: &Ctx, channel_arn: &str) -> Result<String, StepError> {
    match find_stream_key(&ctx.aws, channel_arn).await? {
        Some((_, value)) => Ok(value),
        None => create_stream_key(&ctx.aws, channel_arn).await,
    }
}

/// The channel's stream key as (ARN, value), if it has one (ListStreamKeys + GetStreamKey).
pub async fn find_stream_key(
    aws: &Aws,
    channel_arn: &str,
) -> Result<Option<(String, String)>, AwsError> {
    aws.limits
        .wait("ListStreamKeys", CallClass::IvsStream)
        .await;
    let list = aws
        .ivs
        .list_stream_keys()
        .channel_arn(channel_arn)
        .send()
        .await
        .map_err(|e| from_sdk("ListStreamKeys", e))?;
    let Some(key_arn) = list.stream_keys().first().and_then(|k| k.arn()) else {
        return Ok(None);
    };
    aws.limits.wait("GetStreamKey", CallClass::IvsStream).await;
    let out = aws
        .ivs
        .get_stream_key()
        .arn(key_arn)
        .send()
        .await
        .map_err(|e| from_sdk("GetStreamKey", e))?;
    let value = out.stream_key.and_then(|k| k.value).unwrap_or_default();
    Ok(Some((key_arn.to_owned(), value)))
}

async fn create_stream_key(aws: &Aws, channel_arn: &str) -> Result<String, StepError> {
    aws.limits
        .wait("CreateStreamKey", CallClass::IvsStream)
        .await;
    let out = aws
        .ivs
        .create_stream_key()
        .channel_arn(channel_arn)
        .customize()
        .config_override(aws_sdk_ivs::config::Config::builder().retry_config(no_retry()))
        .send()
        .await
        .map_err(|e| from_sdk("CreateStreamKey", e))?;
    Ok(out.stream_key.and_then(|k| k.value).unwrap_or_default())
}

/// Replaces the stream key (IVS allows one per channel: delete, then create). A crash between
/// the two leaves the channel keyless only until the next attempt, whose [`read_stream_key`]
/// creates the missing key; the request stays recorded on the row until the rotation is done.
async fn rotate_stream_key(ctx: &Ctx, channel_arn: &str) -> Result<String, StepError> {
    if let Some((key_arn, _)) = find_stream_key(&ctx.aws, channel_arn).await? {
        ctx.aws
            .limits
            .wait("DeleteStreamKey", CallClass::IvsStream)
            .await;
        if let Err(e) = ctx.aws.ivs.delete_stream_key().arn(&key_arn).send().await {
            let error = from_sdk("DeleteStreamKey", e);
            if !error.is_not_found() {
                return Err(error.into());
            }
        }
    }
    create_stream_key(&ctx.aws, channel_arn).await
}

async fn delete_ivs_channel(ctx: &Ctx, arn: &str, force: bool) -> Result<(), StepError> {
    if force {
        ctx.aws
            .limits
            .wait("StopStream", CallClass::IvsStream)
            .await;
        if let Err(e) = ctx.aws.ivs.stop_stream().channel_arn(arn).send().await {
            let error = from_sdk("StopStream", e);
            if !(error.is_code("ChannelNotBroadcasting") || error.is_not_found()) {
                return Err(error.into());
            }
        }
    }
    ctx.aws
        .limits
        .wait("DeleteChannel", CallClass::IvsChannel)
        .await;
    match ctx.aws.ivs.delete_channel().arn(arn).send().await {
        Ok(_) => Ok(()),
        Err(e) => {
            let error = from_sdk("DeleteChannel", e);
            if error.is_not_found() {
                Ok(())
            } else if error.is_code("ConflictException") {
                Err(StepError::defer(
                    "the channel is live; it is deleted when the broadcast ends (or DELETE with ?force=true to stop it)",
                    std::time::Duration::from_secs(30),
                ))
            } else {
                Err(error.into())
            }
        }
    }
}

/// Deletes the channel (and any channel carrying its identity tag), its SSM parameters, and
/// releases its recording configuration. Keeps the row as history.
async fn delete(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let spec = &row.spec.0;
    let saved = row
        .outputs
        .0
        .get("channel_arn")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut arns = channels_with_identity(ctx, row).await?;
    arns.extend(saved);
    arns.sort();
    arns.dedup();
    for arn in &arns {
        delete_ivs_channel(ctx, arn, row.delete_force).await?;
    }
    publish::unpublish(ctx, &spec.tenant, &spec.name).await?;
    if let Some(recording) = &spec.recording {
        shared::release_recording(ctx, recording, row.id).await?;
    }
    if let Some(pem) = &spec.playback_public_key_pem {
        shared::release_caller_key(ctx, pem, row.id).await?;
    }
    claims::finish_deleted(&ctx.pool, row).await?;
    db::events::insert(
        &ctx.pool,
        row.id,
        ACTOR,
        "deleted",
        json!({ "channel_arns": arns }),
    )
    .await?;
    Ok(())
}

async fn release_recording_by_arn(ctx: &Ctx, row: &Claimed, arn: &str) -> Result<(), StepError> {
    let settings: Option<sqlx::types::Json<crate::domain::channel::RecordingSpec>> =
        sqlx::query_scalar("select settings from recording_configurations where arn = $1")
            .bind(arn)
            .fetch_optional(&ctx.pool)
            .await?;
    if let Some(settings) = settings {
        shared::release_recording(ctx, &settings.0, row.id).await?;
    }
    Ok(())
}
