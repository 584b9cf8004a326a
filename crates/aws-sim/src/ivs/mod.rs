//! Amazon IVS (restJson1): dispatch by operation and the helpers every IVS handler shares
//! (input parsing, region-scoped lookups, list pagination). One submodule per resource.

pub mod broadcast;
mod channels;
mod keys;
mod record_to_s3;
mod recording;
mod sessions;
mod streams;
pub(crate) mod tags;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::call::Call;
use crate::ids::Scope;
use crate::model::{State, pick};
use crate::validate;
use crate::wire::{ApiError, BadToken, OpResult, Output, Protocol, paginate, parse_body};

/// Runs one IVS operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    match call.op.as_str() {
        "CreateChannel" => channels::create(state, call),
        "GetChannel" => channels::get(state, call),
        "BatchGetChannel" => channels::batch_get(state, call),
        "ListChannels" => channels::list(state, call),
        "UpdateChannel" => channels::update(state, call),
        "DeleteChannel" => channels::delete(state, call),
        "CreateRecordingConfiguration" => recording::create(state, call),
        "GetRecordingConfiguration" => recording::get(state, call),
        "ListRecordingConfigurations" => recording::list(state, call),
        "DeleteRecordingConfiguration" => recording::delete(state, call),
        "ImportPlaybackKeyPair" => keys::import_key_pair(state, call),
        "GetPlaybackKeyPair" => keys::get_key_pair(state, call),
        "ListPlaybackKeyPairs" => keys::list_key_pairs(state, call),
        "DeletePlaybackKeyPair" => keys::delete_key_pair(state, call),
        "CreateStreamKey" => keys::create_stream_key(state, call),
        "GetStreamKey" => keys::get_stream_key(state, call),
        "ListStreamKeys" => keys::list_stream_keys(state, call),
        "DeleteStreamKey" => keys::delete_stream_key(state, call),
        "BatchGetStreamKey" => keys::batch_get_stream_keys(state, call),
        "GetStream" => streams::get(state, call),
        "ListStreams" => streams::list(state, call),
        "StopStream" => streams::stop(state, call),
        "ListStreamSessions" => sessions::list(state, call),
        "GetStreamSession" => sessions::get(state, call),
        "StartViewerSessionRevocation" => streams::revoke(state, call),
        "BatchStartViewerSessionRevocation" => streams::batch_revoke(state, call),
        "TagResource" => tags::tag(state, call),
        "UntagResource" => tags::untag(state, call),
        "ListTagsForResource" => tags::list(state, call),
        _ => Err(ApiError::new(
            "UnknownOperationException",
            "The requested operation is not supported",
        )),
    }
}

fn input<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    parse_body(&call.body, Protocol::RestJson)
}

fn json(value: Value) -> OpResult {
    Ok(Output::Json(value))
}

/// Input carrying just `arn`.
#[derive(serde::Deserialize)]
struct ArnInput {
    arn: Option<String>,
}

/// Input carrying just `channelArn`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChannelArnInput {
    channel_arn: Option<String>,
}

/// A required, well-formed ARN of `kind`.
fn required_arn(field: &str, arn: Option<String>, kind: &str) -> Result<String, ApiError> {
    let arn = arn.ok_or_else(|| ApiError::validation(format!("{field} is required")))?;
    validate::ivs_arn(field, &arn, kind)?;
    Ok(arn)
}

/// True when `arn` belongs to the caller's account and region (AWS endpoints are regional).
fn in_scope(arn: &str, scope: &Scope) -> bool {
    arn.strip_prefix("arn:aws:ivs:")
        .and_then(|rest| rest.strip_prefix(scope.region.as_str()))
        .and_then(|rest| rest.strip_prefix(':'))
        .is_some_and(|rest| rest.starts_with(&format!("{}:", scope.account)))
}

/// The resource at `arn` in the caller's region, or ResourceNotFoundException.
fn find<'a, T>(map: &'a BTreeMap<String, T>, arn: &str, scope: &Scope) -> Result<&'a T, ApiError> {
    map.get(arn)
        .filter(|_| in_scope(arn, scope))
        .ok_or_else(|| ApiError::not_found(arn))
}

fn find_mut<'a, T>(
    map: &'a mut BTreeMap<String, T>,
    arn: &str,
    scope: &Scope,
) -> Result<&'a mut T, ApiError> {
    map.get_mut(arn)
        .filter(|_| in_scope(arn, scope))
        .ok_or_else(|| ApiError::not_found(arn))
}

/// Common pagination input of IVS list operations.
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Page {
    max_results: Option<i64>,
    next_token: Option<String>,
}

impl Page {
    /// One page of the in-scope items of `map` passing `keep`, rendered as `fields`.
    fn of<T: Serialize>(
        &self,
        map: &BTreeMap<String, T>,
        scope: &Scope,
        limits: (i64, i64),
        keep: impl Fn(&T) -> bool,
        fields: &[&str],
    ) -> Result<(Vec<Value>, Option<String>), ApiError> {
        let (default, max) = limits;
        let max_results = self.max_results.unwrap_or(default);
        validate::in_range("maxResults", max_results, 1, max)?;
        let items = map
            .iter()
            .filter(|(arn, item)| in_scope(arn, scope) && keep(item))
            .map(|(arn, item)| (arn.clone(), pick(item, fields)))
            .collect();
        let max_results = usize::try_from(max_results).unwrap_or(1);
        paginate(items, self.next_token.as_deref(), max_results)
            .map_err(|BadToken| ApiError::validation("nextToken is not valid"))
    }
}

/// Response body `{ <key>: items, nextToken? }`.
fn list_output(key: &str, (items, next): (Vec<Value>, Option<String>)) -> OpResult {
    let mut body = serde_json::Map::new();
    body.insert(key.into(), Value::Array(items));
    if let Some(token) = next {
        body.insert("nextToken".into(), Value::String(token));
    }
    json(Value::Object(body))
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Checks a batch's ARN list: 1..=max entries, each a well-formed ARN of `kind`.
fn batch_arns(arns: Option<Vec<String>>, max: usize, kind: &str) -> Result<Vec<String>, ApiError> {
    let arns = arns.unwrap_or_default();
    if arns.is_empty() || arns.len() > max {
        return Err(ApiError::validation(format!(
            "arns must contain between 1 and {max} items"
        )));
    }
    for arn in &arns {
        validate::ivs_arn("arns", arn, kind)?;
    }
    Ok(arns)
}

/// A per-ARN `errors[]` entry of the batch operations.
fn batch_not_found(arn: &str) -> Value {
    serde_json::json!({ "arn": arn, "code": "ResourceNotFoundException", "message": format!("Resource: {arn} not found") })
}
