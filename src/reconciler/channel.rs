//! One reconcile of one channel row: provision or update it in IVS and SSM, or delete it.
//!
//! Crash safety: IVS has no idempotency token and channel names are not unique, so every channel
//! carries an identity tag naming its row. Before any CreateChannel the reconciler looks for
//! channels with that tag and adopts one (deleting any extra), and it saves the ARN the moment it
//! is known, so a crash at any point leaves at most one channel, which the next attempt adopts.

use chrono::Utc;
use serde_json::json;

use super::ingest::{self, Endpoints, Key};
use super::shared::{self, Shared};
use super::step::StepError;
use super::tags::Service;
use super::{Ctx, caller_keys, chat_room, ivs_channel, publish, tags};
use crate::db::shared_configurations::SharedKind;
use crate::db::{self, claims::Claimed};
use crate::domain::event::actor::RECONCILER;
use crate::domain::resources::desired_tags;
use crate::domain::{EventKind, Phase};

/// Records an audit event written by the reconciler.
pub(super) async fn audit(
    ctx: &Ctx,
    row: &Claimed,
    kind: EventKind,
    details: serde_json::Value,
) -> Result<(), StepError> {
    db::events::insert(&ctx.pool, row.id, RECONCILER, kind, details).await?;
    Ok(())
}

/// Reconciles one claimed row to its desired state.
pub async fn reconcile(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let due_for_deletion = row.delete_after.is_some_and(|at| at <= Utc::now());
    if row.phase == Phase::Deleting || due_for_deletion {
        if row.phase != Phase::Deleting {
            db::claims::set_phase(&ctx.pool, row, Phase::Deleting).await?;
            let details = json!({ "delete_after": row.delete_after });
            audit(ctx, row, EventKind::DeleteAfterReached, details).await?;
        }
        return delete(ctx, row).await;
    }
    // A ready row is claimed only when its live window reaches an edge: open or close the gate
    // alone, without the rest of provisioning (nor another `ready` event).
    if row.phase == Phase::Ready
        && let Some(endpoints) = Endpoints::saved(&row.outputs.0)
    {
        ingest::apply(ctx, row, &endpoints, Key::Read).await?;
        db::claims::finish_window_edge(&ctx.pool, row).await?;
        return Ok(());
    }
    provision(ctx, row).await
}

async fn provision(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let spec = &row.spec.0;
    let recording_arn = match &spec.recording {
        Some(recording) => Some(shared::ensure(ctx, Shared::Recording(recording)).await?),
        None => None,
    };
    // A private channel's tokens verify against the caller's key if it brought one, else
    // against the service's managed key (imported once for every channel).
    let key_fingerprint = match (&spec.playback_public_key_pem, spec.authorized) {
        (Some(pem), _) => Some(caller_keys::ensure(ctx, pem).await?),
        (None, true) => ctx.managed_key.ivs_fingerprint().await?,
        (None, false) => None,
    };

    let (channel, created_key) =
        ivs_channel::find_or_create(ctx, row, recording_arn.as_deref()).await?;
    let arn = channel.arn().unwrap_or_default().to_owned();
    let mut outputs = ivs_channel::outputs(
        &channel,
        recording_arn.as_deref(),
        key_fingerprint
            .as_deref()
            .or(row.outputs.0.playback_key_pair_fingerprint.as_deref()),
    );
    outputs.chat_room_arn = row.outputs.0.chat_room_arn.clone();
    outputs.chat_room_id = row.outputs.0.chat_room_id.clone();
    db::claims::save_outputs(&ctx.pool, row, &outputs).await?;

    let previous_recording = channel
        .recording_configuration_arn()
        .filter(|a| !a.is_empty())
        .map(str::to_owned);
    if ivs_channel::needs_update(&channel, spec, recording_arn.as_deref()) {
        ivs_channel::update(ctx, &arn, spec, recording_arn.as_deref()).await?;
        audit(
            ctx,
            row,
            EventKind::Applied,
            json!({ "generation": row.generation }),
        )
        .await?;
    }
    let want_tags = desired_tags(row.id, spec);
    tags::sync(ctx, Service::Ivs, &arn, channel.tags(), &want_tags).await?;
    // A channel with chat is ready only together with its room.
    chat_room::reconcile(ctx, row, &mut outputs).await?;

    let rotation = row.stream_key_rotation_requested_at;
    let key = match (created_key, rotation) {
        (Some(key), _) => Key::Created(key),
        (None, Some(_)) => Key::Rotate,
        (None, None) => Key::Read,
    };
    let endpoints = Endpoints {
        arn: &arn,
        ingest: channel.ingest_endpoint().unwrap_or_default(),
        playback: channel.playback_url().unwrap_or_default(),
    };
    // With the live window closed, a rotation is done by the closing: no key is left.
    ingest::apply(ctx, row, &endpoints, key).await?;
    if let Some(requested_at) = rotation {
        // The state change, its audit event and its webhook commit together (the outbox).
        let mut tx = ctx.pool.begin().await?;
        db::claims::finish_stream_key_rotation(&mut tx, row, requested_at).await?;
        let details = json!({ "requested_at": requested_at });
        let kind = EventKind::StreamKeyRotated;
        db::webhooks::record_channel_event(&mut tx, row.id, RECONCILER, kind, details).await?;
        tx.commit().await?;
    }

    if let Some(previous) = previous_recording.filter(|p| Some(p) != recording_arn.as_ref()) {
        shared::release_by_arn(ctx, SharedKind::Recording, row, &previous).await?;
    }
    release_replaced_caller_key(ctx, row, key_fingerprint.as_deref()).await?;
    let mut tx = ctx.pool.begin().await?;
    db::claims::finish_ready(&mut *tx, row, &outputs).await?;
    let details = json!({ "generation": row.generation, "channel_arn": arn });
    db::webhooks::record_channel_event(&mut tx, row.id, RECONCILER, EventKind::Ready, details)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A caller key the channel no longer uses is released (deleted from IVS once no one uses it).
async fn release_replaced_caller_key(
    ctx: &Ctx,
    row: &Claimed,
    now_used: Option<&str>,
) -> Result<(), StepError> {
    let previous = row.outputs.0.playback_key_pair_fingerprint.as_deref();
    let Some(previous) = previous.filter(|p| Some(*p) != now_used) else {
        return Ok(());
    };
    if let Some(pem) = db::playback_keys::caller_pem_by_ivs_fingerprint(&ctx.pool, previous).await?
    {
        caller_keys::release(ctx, &pem, row.id).await?;
    }
    Ok(())
}

/// Deletes the channel (and any channel carrying its identity tag), its chat room, its SSM
/// parameters, and releases its recording and chat logging configurations and caller key. Keeps the row as history.
async fn delete(ctx: &Ctx, row: &Claimed) -> Result<(), StepError> {
    let spec = &row.spec.0;
    let mut arns = ivs_channel::arns_with_identity(ctx, row).await?;
    arns.extend(row.outputs.0.channel_arn.clone());
    arns.sort();
    arns.dedup();
    for arn in &arns {
        ivs_channel::delete(ctx, arn, row.delete_force).await?;
    }
    if row.outputs.0.chat_room_arn.is_some() || spec.chat.is_some() {
        chat_room::delete_all(ctx, row, row.outputs.0.chat_room_arn.as_deref()).await?;
    }
    publish::unpublish(ctx, &spec.tenant, &spec.name).await?;
    if let Some(settings) = &spec.recording {
        shared::release(ctx, Shared::Recording(settings), row.id).await?;
    }
    if let Some(pem) = &spec.playback_public_key_pem {
        caller_keys::release(ctx, pem, row.id).await?;
    }
    let mut tx = ctx.pool.begin().await?;
    db::claims::finish_deleted(&mut *tx, row).await?;
    let details = json!({ "channel_arns": arns });
    db::webhooks::record_channel_event(&mut tx, row.id, RECONCILER, EventKind::Deleted, details)
        .await?;
    tx.commit().await?;
    Ok(())
}
