//! A channel's ingest gate: whether it has a stream key. Without a live window it always has
//! one; with a window, only from `opens_at` to `closes_at + grace_seconds`. Opening creates (or
//! adopts) the key and publishes it to SSM; closing deletes the key first, then stops a live
//! stream (an encoder reconnects unless its key is revoked first, docs/aws-facts.md §7.5), then
//! removes the key from SSM.
//!
//! Crash safety: every side effect is idempotent (a key is created only when none exists, and
//! CreateStreamKey is sent once; deletions of what is gone count as done), and the gate's new
//! state commits after them, with its audit event, in one fenced transaction. A crash at any
//! point leaves the old state recorded, so the next attempt repeats the steps and records the
//! change once.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::step::StepError;
use super::{Ctx, ivs_channel, publish, stream_keys};
use crate::db::{self, claims::Claimed};
use crate::domain::channel::ingest_open;
use crate::domain::event::actor::RECONCILER;
use crate::domain::resources::{parameter_tags, parameters, stream_key_parameter};
use crate::domain::{ChannelOutputs, EventKind};

/// Where the channel's broadcasts go in and come out: what its SSM parameters publish.
pub struct Endpoints<'a> {
    pub arn: &'a str,
    pub ingest: &'a str,
    pub playback: &'a str,
}

impl<'a> Endpoints<'a> {
    /// The endpoints a provisioned channel saved, if it saved them all.
    pub fn saved(outputs: &'a ChannelOutputs) -> Option<Self> {
        Some(Endpoints {
            arn: outputs.channel_arn.as_deref()?,
            ingest: outputs.ingest_endpoint.as_deref()?,
            playback: outputs.playback_url.as_deref()?,
        })
    }
}

/// Where the key comes from while the gate is open.
pub enum Key {
    /// Returned by the CreateChannel of this attempt.
    Created(String),
    /// A rotation was requested: replace the key.
    Rotate,
    /// Read the existing key, creating one if there is none.
    Read,
}

/// Makes the gate what the spec's window says it is now, and records it.
pub async fn apply(
    ctx: &Ctx,
    row: &Claimed,
    endpoints: &Endpoints<'_>,
    key: Key,
) -> Result<(), StepError> {
    let now = Utc::now();
    let window = row.spec.0.live_window;
    let open = ingest_open(window.as_ref(), now);
    let details = if open {
        open_gate(ctx, row, endpoints, key).await?;
        json!({ "live_window": window })
    } else {
        let stream_stopped = close_gate(ctx, row, endpoints).await?;
        json!({ "live_window": window, "stream_stopped": stream_stopped })
    };
    let next_edge = window.and_then(|w| w.next_edge_after(now));
    record(ctx, row, open, next_edge, details).await
}

/// The key in IVS (created at most once) and all three parameters in SSM.
async fn open_gate(
    ctx: &Ctx,
    row: &Claimed,
    endpoints: &Endpoints<'_>,
    key: Key,
) -> Result<(), StepError> {
    let stream_key = match key {
        Key::Created(value) => value,
        Key::Rotate => stream_keys::rotate(ctx, endpoints.arn).await?,
        Key::Read => stream_keys::read(ctx, endpoints.arn).await?,
    };
    let spec = &row.spec.0;
    let params = parameters(
        &ctx.settings.ssm_prefix,
        &spec.tenant,
        &spec.name,
        endpoints.ingest,
        &stream_key,
        endpoints.playback,
    );
    publish::publish(ctx, &params, &parameter_tags(row.id, spec)).await
}

/// Key deleted first, then the stream stopped, then SSM without the key. Returns whether a live
/// stream was stopped. The stop is skipped once the gate is recorded closed: with no key since
/// then, nothing can have started broadcasting.
async fn close_gate(
    ctx: &Ctx,
    row: &Claimed,
    endpoints: &Endpoints<'_>,
) -> Result<bool, StepError> {
    stream_keys::delete_all(ctx, endpoints.arn).await?;
    let stopped = if row.ingest_open == Some(false) {
        false
    } else {
        ivs_channel::stop_stream(ctx, endpoints.arn).await?
    };
    let spec = &row.spec.0;
    let (prefix, tenant, name) = (&ctx.settings.ssm_prefix, &spec.tenant, &spec.name);
    let key_parameter = stream_key_parameter(prefix, tenant, name);
    let mut params = parameters(
        prefix,
        tenant,
        name,
        endpoints.ingest,
        "",
        endpoints.playback,
    );
    params.retain(|p| p.name != key_parameter);
    publish::publish(ctx, &params, &parameter_tags(row.id, spec)).await?;
    ctx.aws.delete_parameters(vec![key_parameter]).await?;
    Ok(stopped)
}

/// The audit event for a change of the gate, if it is one: opening (also a channel first
/// provisioned inside its window) and closing. A channel first provisioned before its window
/// opens, or without a window, has nothing to report.
fn change(row: &Claimed, open: bool) -> Option<EventKind> {
    let has_window = row.spec.0.live_window.is_some();
    match (row.ingest_open, open) {
        (Some(false), true) => Some(EventKind::IngestOpened),
        (None, true) if has_window => Some(EventKind::IngestOpened),
        (Some(true), false) => Some(EventKind::IngestClosed),
        _ => None,
    }
}

async fn record(
    ctx: &Ctx,
    row: &Claimed,
    open: bool,
    next_edge: Option<DateTime<Utc>>,
    details: serde_json::Value,
) -> Result<(), StepError> {
    let mut tx = ctx.pool.begin().await?;
    db::claims::save_ingest(&mut tx, row, open, next_edge).await?;
    if let Some(kind) = change(row, open) {
        db::webhooks::record_channel_event(&mut tx, row.id, RECONCILER, kind, details).await?;
    }
    tx.commit().await?;
    Ok(())
}
