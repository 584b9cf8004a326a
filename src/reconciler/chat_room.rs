//! The IVS Chat room of a chat-enabled channel: found by its saved ARN or by the channel's
//! identity tag, created when missing (its ARN saved the moment it is known), updated to the
//! spec, tagged like the channel, attached to the shared logging configuration of its bucket,
//! and deleted when the channel is or when chat is turned off.
//!
//! Crash safety is the channel's (docs/aws-facts.md §12): CreateRoom has no idempotency token
//! and names are not unique, so the room carries the identity tag and every create is preceded
//! by a look for a tagged room (extras are deleted, keeping the oldest ARN).

use serde_json::json;

use super::channel::audit;
use super::shared::{self, Shared};
use super::step::StepError;
use super::tags::{self, Service};
use super::{Ctx, adopt};
use crate::aws::{AwsErrorKind, ChatRoom};
use crate::db::shared_configurations::SharedKind;
use crate::db::{self, claims::Claimed};
use crate::domain::channel::ChatSpec;
use crate::domain::resources::{IDENTITY_TAG, desired_tags};
use crate::domain::{ChannelOutputs, EventKind};

/// Makes the row's room match its spec: present and configured when chat is enabled, absent
/// otherwise. `outputs` carries the room's ARN and ID afterwards (saved at once when created).
pub async fn reconcile(
    ctx: &Ctx,
    row: &Claimed,
    outputs: &mut ChannelOutputs,
) -> Result<(), StepError> {
    let spec = &row.spec.0;
    match spec.chat_room() {
        Some(chat) => ensure(ctx, row, chat, outputs).await,
        None => {
            // Only a channel that had (or asked for) a room looks for one: the rest never made one.
            if outputs.chat_room_arn.is_some() || spec.chat.is_some() {
                delete_all(ctx, row, outputs.chat_room_arn.as_deref()).await?;
            }
            outputs.chat_room_arn = None;
            outputs.chat_room_id = None;
            Ok(())
        }
    }
}

async fn ensure(
    ctx: &Ctx,
    row: &Claimed,
    chat: &ChatSpec,
    outputs: &mut ChannelOutputs,
) -> Result<(), StepError> {
    let logging_arn = match &chat.log_to_s3_bucket {
        Some(bucket) => Some(shared::ensure(ctx, Shared::ChatLogging { bucket }).await?),
        None => None,
    };
    let saved = outputs.chat_room_arn.clone();
    let room = match find(ctx, row, saved.as_deref()).await? {
        Some(room) => room,
        None => {
            if saved.is_some() {
                let details = json!({
                    "reason": "the IVS Chat room was deleted outside the service",
                    "chat_room_arn": saved,
                });
                audit(ctx, row, EventKind::Recreating, details).await?;
            }
            create(ctx, row, chat, logging_arn.as_deref(), outputs).await?
        }
    };
    outputs.chat_room_arn = Some(room.arn.clone());
    outputs.chat_room_id = Some(room.id.clone());
    if room.differs_from(chat, logging_arn.as_deref()) {
        ctx.aws
            .update_room(&room.arn, chat, logging_arn.as_deref())
            .await?;
        let details = json!({ "generation": row.generation, "chat_room_arn": room.arn });
        audit(ctx, row, EventKind::Applied, details).await?;
    }
    let want_tags = desired_tags(row.id, &row.spec.0);
    tags::sync(ctx, Service::Chat, &room.arn, Some(&room.tags), &want_tags).await?;
    for previous in &room.logging_configuration_arns {
        if Some(previous) != logging_arn.as_ref() {
            shared::release_by_arn(ctx, SharedKind::ChatLogging, row, previous).await?;
        }
    }
    Ok(())
}

/// The row's room: by its saved ARN, else by its identity tag (a create whose response was
/// lost); extra tagged rooms are deleted.
async fn find(
    ctx: &Ctx,
    row: &Claimed,
    saved: Option<&str>,
) -> Result<Option<ChatRoom>, StepError> {
    if let Some(arn) = saved {
        match ctx.aws.get_room(arn).await {
            Ok(room) => return Ok(Some(room)),
            Err(e) if e.is_not_found() => {}
            Err(other) => return Err(other.into()),
        }
    }
    let tagged = arns_with_identity(ctx, row).await?;
    let extra = |arn: String| async move { delete_room(ctx, &arn).await };
    match adopt::keep_one(ctx, row, saved, tagged, "chat_room_arn", extra).await? {
        Some(keep) => Ok(Some(ctx.aws.get_room(&keep).await?)),
        None => Ok(None),
    }
}

/// ARNs of the rooms named like the row's channel that carry its identity tag.
async fn arns_with_identity(ctx: &Ctx, row: &Claimed) -> Result<Vec<String>, StepError> {
    let id = row.id.to_string();
    let rooms = ctx.aws.list_rooms(Some(&row.spec.0.name)).await?;
    Ok(rooms
        .iter()
        .filter(|r| {
            r.tags()
                .and_then(|t| t.get(IDENTITY_TAG))
                .is_some_and(|v| *v == id)
        })
        .filter_map(|r| r.arn().map(str::to_owned))
        .collect())
}

/// Creates the room exactly once per call and saves its ARN at once.
async fn create(
    ctx: &Ctx,
    row: &Claimed,
    chat: &ChatSpec,
    logging_arn: Option<&str>,
    outputs: &mut ChannelOutputs,
) -> Result<ChatRoom, StepError> {
    let spec = &row.spec.0;
    let tags = desired_tags(row.id, spec);
    let room = ctx
        .aws
        .create_room(&spec.name, chat, logging_arn, tags)
        .await?;
    outputs.chat_room_arn = Some(room.arn.clone());
    outputs.chat_room_id = Some(room.id.clone());
    db::claims::save_outputs(&ctx.pool, row, outputs).await?;
    let details = json!({ "chat_room_arn": room.arn, "chat_room_id": room.id });
    audit(ctx, row, EventKind::ChatRoomCreated, details).await?;
    Ok(room)
}

/// Deletes the row's room (the saved one and any carrying its identity tag), then releases the
/// logging configurations they used. Used when chat is turned off and when the channel is
/// deleted.
pub async fn delete_all(ctx: &Ctx, row: &Claimed, saved: Option<&str>) -> Result<(), StepError> {
    let mut arns = arns_with_identity(ctx, row).await?;
    arns.extend(saved.map(str::to_owned));
    arns.sort();
    arns.dedup();
    let mut logging = Vec::new();
    for arn in &arns {
        match ctx.aws.get_room(arn).await {
            Ok(room) => logging.extend(room.logging_configuration_arns),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
        delete_room(ctx, arn).await?;
        audit(
            ctx,
            row,
            EventKind::ChatRoomDeleted,
            json!({ "chat_room_arn": arn }),
        )
        .await?;
    }
    if let Some(bucket) = row
        .spec
        .0
        .chat
        .as_ref()
        .and_then(|c| c.log_to_s3_bucket.as_deref())
    {
        shared::release(ctx, Shared::ChatLogging { bucket }, row.id).await?;
    }
    logging.sort();
    logging.dedup();
    for arn in &logging {
        shared::release_by_arn(ctx, SharedKind::ChatLogging, row, arn).await?;
    }
    Ok(())
}

/// Deletes one room; one already gone is fine.
async fn delete_room(ctx: &Ctx, arn: &str) -> Result<(), StepError> {
    match ctx.aws.delete_room(arn).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) if e.kind == AwsErrorKind::Conflict => Err(StepError::defer(
            "IVS Chat refused to delete the room for now; retrying",
            std::time::Duration::from_secs(5),
        )),
        Err(e) => Err(e.into()),
    }
}
