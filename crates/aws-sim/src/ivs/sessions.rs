//! Stream sessions: ListStreamSessions (newest first, paginated) and GetStreamSession (one
//! broadcast, the latest when no streamId is given) over the history the broadcast lifecycle keeps.

use serde::Deserialize;
use serde_json::json;

use super::{find, input, json, list_output, required_arn};
use crate::call::Call;
use crate::model::State;
use crate::model::sessions::StreamSession;
use crate::validate;
use crate::wire::{ApiError, BadToken, OpResult, paginate};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    channel_arn: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

/// The channel's sessions; the channel must exist in the caller's region.
fn sessions<'a>(state: &'a State, call: &Call, arn: &str) -> Result<&'a [StreamSession], ApiError> {
    find(&state.data.channels, arn, &call.scope)?;
    Ok(state
        .data
        .stream_sessions
        .get(arn)
        .map_or(&[][..], Vec::as_slice))
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: ListInput = input(call)?;
    let arn = required_arn("channelArn", input.channel_arn, "channel")?;
    let max = input.max_results.unwrap_or(100);
    validate::in_range("maxResults", max, 1, 100)?;
    // Keys sort newest first and stay put when a new session starts between pages.
    let items = sessions(state, call, &arn)?
        .iter()
        .enumerate()
        .rev()
        .map(|(i, s)| (format!("{:020}", u64::MAX - i as u64), s.summary()))
        .collect();
    let page = paginate(
        items,
        input.next_token.as_deref(),
        usize::try_from(max).unwrap_or(100),
    )
    .map_err(|BadToken| ApiError::validation("nextToken is not valid"))?;
    list_output("streamSessions", page)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetInput {
    channel_arn: Option<String>,
    stream_id: Option<String>,
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let input: GetInput = input(call)?;
    let arn = required_arn("channelArn", input.channel_arn, "channel")?;
    let all = sessions(state, call, &arn)?;
    let session = match input.stream_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => {
            let ok = id.starts_with("st-") && id[3..].chars().all(|c| c.is_ascii_alphanumeric());
            if !ok {
                return Err(ApiError::validation(format!(
                    "streamId must match ^st-[a-zA-Z0-9]+$, got '{id}'"
                )));
            }
            all.iter().find(|s| s.stream_id == id)
        }
        None => all.last(),
    };
    let session = session.ok_or_else(|| {
        ApiError::new(
            "ResourceNotFoundException",
            format!("Stream session not found for channel {arn}"),
        )
    })?;
    json(json!({ "streamSession": session.detail() }))
}
