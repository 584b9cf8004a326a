//! The changes an operator asks for, shared by both edges (the API and the console): retry a
//! channel now, delete it, replace or read its stream key; retry a webhook delivery, replay an
//! endpoint's events. Each checks the caller's scope and tenant, then writes the change and its
//! audit event in one transaction; the reconciler and the delivery workers do the rest.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::aws::{Aws, AwsError};
use crate::db::webhooks::{DeliveryRow, EndpointRow};
use crate::db::{self, channels::ChannelRow};
use crate::domain::api_key::{Caller, MissingScope, Scope};
use crate::domain::{EventKind, Phase};

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error(transparent)]
    Forbidden(#[from] MissingScope),
    /// No such channel (or webhook endpoint, or delivery), or one of another tenant (its
    /// existence does not leak). The text names what was looked for.
    #[error("{0}")]
    NotFound(&'static str),
    /// The channel's state does not allow the action; the text says why.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

const NO_CHANNEL: ActionError = ActionError::NotFound("no such channel");
const NO_WEBHOOK: ActionError = ActionError::NotFound("no such webhook endpoint or delivery");

/// A channel the caller may see.
pub async fn visible_channel(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<ChannelRow, ActionError> {
    db::channels::find(pool, id)
        .await?
        .filter(|row| caller.can_see(&row.tenant))
        .ok_or(NO_CHANNEL)
}

/// A channel the caller may see, locked for the rest of the transaction.
async fn locked_channel(
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    id: Uuid,
) -> Result<ChannelRow, ActionError> {
    db::channels::find_for_update(&mut *tx, id)
        .await?
        .filter(|row| caller.can_see(&row.tenant))
        .ok_or(NO_CHANNEL)
}

/// An operator's retry (admin): a `failed` channel is tried again at once with a fresh attempt
/// count; any other channel needing work is made due now.
pub async fn retry(pool: &PgPool, caller: &Caller, id: Uuid) -> Result<ChannelRow, ActionError> {
    caller.require(Scope::Admin)?;
    visible_channel(pool, caller, id).await?;
    let mut tx = pool.begin().await?;
    let row = db::channels::retry_now(&mut *tx, id).await?;
    let kind = EventKind::RetryRequested;
    db::events::insert(&mut *tx, id, &caller.key_name, kind, json!({})).await?;
    tx.commit().await?;
    Ok(row)
}

/// Marks a channel `deleting` (`force`: stop a live broadcast first). Deleting again is
/// harmless and may add `force`.
pub async fn delete(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    force: bool,
) -> Result<ChannelRow, ActionError> {
    caller.require(Scope::ChannelsWrite)?;
    let mut tx = pool.begin().await?;
    let current = locked_channel(&mut tx, caller, id).await?;
    let row = match current.phase {
        Phase::Deleted => current,
        Phase::Deleting if !force => current,
        _ => {
            let row = db::channels::mark_deleting(&mut *tx, id, force).await?;
            let details = json!({ "force": force });
            let kind = EventKind::DeleteRequested;
            db::events::insert(&mut *tx, id, &caller.key_name, kind, details).await?;
            row
        }
    };
    tx.commit().await?;
    Ok(row)
}

/// Records a stream-key rotation request; the reconciler replaces the key in IVS and SSM.
pub async fn rotate_stream_key(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<ChannelRow, ActionError> {
    caller.require(Scope::ChannelsWrite)?;
    let mut tx = pool.begin().await?;
    let current = locked_channel(&mut tx, caller, id).await?;
    let phase = current.phase;
    if current.outputs.0.channel_arn.is_none() || phase.is_going() {
        return Err(ActionError::Conflict(format!(
            "the channel has no stream key to replace (phase: {})",
            phase.as_str()
        )));
    }
    let row = db::channels::request_stream_key_rotation(&mut *tx, id).await?;
    let kind = EventKind::StreamKeyRotationRequested;
    db::events::insert(&mut *tx, id, &caller.key_name, kind, json!({})).await?;
    tx.commit().await?;
    Ok(row)
}

/// A channel's stream key and ingest endpoint, read from IVS at the moment of asking (never
/// stored, never logged).
pub struct StreamKey {
    pub stream_key: String,
    pub ingest_endpoint: String,
}

/// Reads a channel's stream key from IVS (scope `stream-keys:read`).
pub async fn read_stream_key(
    pool: &PgPool,
    aws: &Aws,
    caller: &Caller,
    id: Uuid,
) -> Result<StreamKey, ActionError> {
    caller.require(Scope::StreamKeysRead)?;
    let channel = visible_channel(pool, caller, id).await?;
    let phase = channel.phase;
    let outputs = channel.outputs.0;
    let (Some(arn), Some(ingest_endpoint), false) = (
        outputs.channel_arn,
        outputs.ingest_endpoint,
        phase.is_going(),
    ) else {
        return Err(ActionError::Conflict(format!(
            "the channel has no stream key (phase: {}); it gets one when it is provisioned",
            phase.as_str()
        )));
    };
    let window = channel.spec.0.live_window;
    let Some((_, stream_key)) = aws.find_stream_key(&arn).await? else {
        let detail = match window.filter(|w| !w.is_open_at(Utc::now())) {
            Some(w) => format!(
                "ingest is closed: the channel has a stream key only from its live window's \
                 opening ({}) until {} (closes_at plus grace)",
                w.opens_at.to_rfc3339(),
                w.ingest_closes_at().to_rfc3339()
            ),
            None => "the stream key is being replaced; try again in a few seconds".into(),
        };
        return Err(ActionError::Conflict(detail));
    };
    Ok(StreamKey {
        stream_key,
        ingest_endpoint,
    })
}

/// A webhook endpoint the caller may see (`webhooks:manage`).
pub async fn visible_endpoint(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<EndpointRow, ActionError> {
    caller.require(Scope::WebhooksManage)?;
    db::webhooks::find_endpoint(pool, id)
        .await?
        .filter(|row| caller.can_see_endpoint(row.tenant.as_deref()))
        .ok_or(NO_WEBHOOK)
}

/// Makes every event since `since` that the endpoint would receive due again, under its
/// original id; returns how many deliveries.
pub async fn replay_webhooks(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
    since: DateTime<Utc>,
) -> Result<u64, ActionError> {
    visible_endpoint(pool, caller, id).await?;
    let mut tx = pool.begin().await?;
    let deliveries = db::webhooks::replay(&mut *tx, id, since).await?;
    let details = json!({ "since": since, "deliveries": deliveries });
    db::webhooks::insert_endpoint_event(&mut *tx, id, &caller.key_name, "replayed", details)
        .await?;
    tx.commit().await?;
    Ok(deliveries)
}

/// Sends one delivery again now with a fresh schedule; returns it as it is then.
pub async fn retry_delivery(
    pool: &PgPool,
    caller: &Caller,
    id: Uuid,
) -> Result<DeliveryRow, ActionError> {
    caller.require(Scope::WebhooksManage)?;
    let delivery = db::webhooks::find_delivery(pool, id)
        .await?
        .ok_or(NO_WEBHOOK)?;
    visible_endpoint(pool, caller, delivery.endpoint_id).await?;
    if !db::webhooks::retry_delivery(pool, id).await? {
        return Err(ActionError::Conflict(
            "an attempt of this delivery is in flight; look again in a few seconds".into(),
        ));
    }
    db::webhooks::notify_work(pool).await?;
    db::webhooks::find_delivery(pool, id)
        .await?
        .ok_or(NO_WEBHOOK)
}
