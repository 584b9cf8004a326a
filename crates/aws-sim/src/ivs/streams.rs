//! Streams (live sessions started by the admin broadcast hook) and viewer-session revocations,
//! which are recorded so tests can assert on their arguments.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ChannelArnInput, Page, find, input, json, list_output, now_iso, required_arn};
use crate::call::Call;
use crate::ids::Scope;
use crate::model::{Broadcast, Revocation, State};
use crate::validate;
use crate::wire::{ApiError, OpResult};

fn not_broadcasting(arn: &str) -> ApiError {
    ApiError::new(
        "ChannelNotBroadcasting",
        format!("Channel {arn} is not currently broadcasting"),
    )
}

/// The live broadcast of an existing channel, or ResourceNotFound / ChannelNotBroadcasting.
fn live<'a>(state: &'a State, scope: &Scope, channel_arn: &str) -> Result<&'a Broadcast, ApiError> {
    find(&state.data.channels, channel_arn, scope)?;
    state
        .data
        .broadcasts
        .get(channel_arn)
        .ok_or_else(|| not_broadcasting(channel_arn))
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn(
        "channelArn",
        input::<ChannelArnInput>(call)?.channel_arn,
        "channel",
    )?;
    let stream = live(state, &call.scope, &arn)?;
    json(json!({ "stream": stream }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    filter_by: Option<Value>,
    #[serde(flatten)]
    page: Page,
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: ListInput = input(call)?;
    let health = input
        .filter_by
        .as_ref()
        .and_then(|f| f.get("health"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(health) = &health {
        validate::one_of(
            "filterBy.health",
            health,
            &["HEALTHY", "STARVING", "UNKNOWN"],
        )?;
    }
    let keep = |b: &Broadcast| health.as_ref().is_none_or(|h| &b.health == h);
    let items = input.page.of(
        &state.data.broadcasts,
        &call.scope,
        (100, 100),
        keep,
        Broadcast::SUMMARY,
    )?;
    list_output("streams", items)
}

/// Ends the live session with its events and recording (encoders would reconnect in reality; here
/// the broadcast just stops).
pub fn stop(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn(
        "channelArn",
        input::<ChannelArnInput>(call)?.channel_arn,
        "channel",
    )?;
    live(state, &call.scope, &arn)?;
    super::broadcast::stop(state, &arn);
    json(json!({}))
}

#[derive(Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
struct RevocationInput {
    channel_arn: Option<String>,
    viewer_id: Option<String>,
    viewer_session_versions_less_than_or_equal_to: Option<i64>,
}

impl RevocationInput {
    /// Validates shape (400s) and returns (channelArn, viewerId, version).
    fn checked(self) -> Result<(String, String, i64), ApiError> {
        let arn = required_arn("channelArn", self.channel_arn, "channel")?;
        let viewer = self.viewer_id.unwrap_or_default();
        if viewer.is_empty() || viewer.chars().count() > 40 {
            return Err(ApiError::validation("viewerId must be 1-40 characters"));
        }
        let version = self
            .viewer_session_versions_less_than_or_equal_to
            .unwrap_or(0);
        validate::in_range(
            "viewerSessionVersionsLessThanOrEqualTo",
            version,
            0,
            i64::from(i32::MAX),
        )?;
        Ok((arn, viewer, version))
    }
}

fn record(
    state: &mut State,
    (channel_arn, viewer_id, version): (String, String, i64),
    batch: bool,
) {
    let revocation = Revocation {
        channel_arn,
        viewer_id,
        viewer_session_versions_less_than_or_equal_to: version,
        batch,
        at: now_iso(),
    };
    state.data.revocations.push(revocation);
}

pub fn revoke(state: &mut State, call: &Call) -> OpResult {
    let request = input::<RevocationInput>(call)?.checked()?;
    find(&state.data.channels, &request.0, &call.scope)?;
    record(state, request, false);
    json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchInput {
    viewer_sessions: Option<Vec<RevocationInput>>,
}

/// 1–20 sessions; each unknown channel is reported in `errors[]`, the rest are recorded.
pub fn batch_revoke(state: &mut State, call: &Call) -> OpResult {
    let sessions = input::<BatchInput>(call)?
        .viewer_sessions
        .unwrap_or_default();
    if sessions.is_empty() || sessions.len() > 20 {
        return Err(ApiError::validation(
            "viewerSessions must contain between 1 and 20 items",
        ));
    }
    let checked = sessions
        .into_iter()
        .map(RevocationInput::checked)
        .collect::<Result<Vec<_>, _>>()?;
    let mut errors = Vec::new();
    for request in checked {
        match find(&state.data.channels, &request.0, &call.scope) {
            Ok(_) => record(state, request, true),
            Err(err) => errors.push(json!({
                "channelArn": request.0, "viewerId": request.1, "code": err.code, "message": err.message,
            })),
        }
    }
    json(json!({ "errors": errors }))
}
