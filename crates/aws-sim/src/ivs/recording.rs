//! Recording configurations: CREATING → ACTIVE after the configured delay (CREATE_FAILED for
//! buckets the simulator is told are in another region), no update, delete refused while in use.

use std::time::Instant;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{ArnInput, Page, find, input, json, list_output, required_arn};
use crate::call::Call;
use crate::model::{RecordingConfiguration, State};
use crate::validate::{self, Tags};
use crate::wire::{ApiError, OpResult, Output};

const RESOLUTIONS: &[&str] = &["SD", "HD", "FULL_HD", "LOWEST_RESOLUTION"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    name: Option<String>,
    destination_configuration: Option<Value>,
    recording_reconnect_window_seconds: Option<i64>,
    rendition_configuration: Option<Value>,
    thumbnail_configuration: Option<Value>,
    tags: Option<Tags>,
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input: CreateInput = input(call)?;
    let name = input.name.unwrap_or_default();
    validate::ivs_name("name", &name)?;
    let destination = input.destination_configuration.unwrap_or(Value::Null);
    let bucket = bucket_name(&destination)?;
    let window = input.recording_reconnect_window_seconds.unwrap_or(0);
    validate::in_range("recordingReconnectWindowSeconds", window, 0, 300)?;
    let rendition = renditions(input.rendition_configuration)?;
    let thumbnails = thumbnails(input.thumbnail_configuration)?;
    let tags = input.tags.unwrap_or_default();
    validate::ivs_tags(&tags)?;
    let scope = &call.scope;
    let quota = state.config.quotas.recording_configurations;
    if state
        .data
        .recording_configurations
        .keys()
        .filter(|arn| super::in_scope(arn, scope))
        .count()
        >= quota
    {
        return Err(ApiError::quota(format!(
            "Limit of {quota} recording configurations per region reached"
        )));
    }
    let mut config = RecordingConfiguration {
        arn: scope.ivs_arn("recording-configuration"),
        name,
        destination_configuration: json!({ "s3": { "bucketName": bucket } }),
        state: "CREATING".into(),
        tags,
        thumbnail_configuration: thumbnails,
        recording_reconnect_window_seconds: window,
        rendition_configuration: rendition,
        ready_at: Instant::now() + state.config.recording_delay(),
        will_fail: state.config.foreign_buckets.contains(&bucket),
    };
    config.settle(Instant::now());
    let body = json!({ "recordingConfiguration": config });
    state
        .data
        .recording_configurations
        .insert(config.arn.clone(), config);
    json(body)
}

/// `destinationConfiguration.s3.bucketName`: required, 3–63 chars of `[a-z0-9-.]`.
fn bucket_name(destination: &Value) -> Result<String, ApiError> {
    let bucket = destination
        .pointer("/s3/bucketName")
        .and_then(Value::as_str);
    let bucket = bucket.ok_or_else(|| {
        ApiError::validation("destinationConfiguration.s3.bucketName is required")
    })?;
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    ok.then(|| bucket.to_owned()).ok_or_else(|| {
        ApiError::validation(format!(
            "bucketName '{bucket}' must match ^[a-z0-9-.]+$ (3-63 chars)"
        ))
    })
}

fn str_field<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// renditionConfiguration with IVS's default (ALL).
fn renditions(config: Option<Value>) -> Result<Value, ApiError> {
    let config = config.unwrap_or_else(|| json!({}));
    let selection = str_field(&config, "renditionSelection")
        .unwrap_or("ALL")
        .to_owned();
    validate::one_of("renditionSelection", &selection, &["ALL", "NONE", "CUSTOM"])?;
    let list = string_list(&config, "renditions")?;
    for rendition in &list {
        validate::one_of("renditions", rendition, RESOLUTIONS)?;
    }
    Ok(json!({ "renditionSelection": selection, "renditions": list }))
}

/// thumbnailConfiguration with IVS's defaults (INTERVAL every 60 s, SEQUENTIAL storage).
fn thumbnails(config: Option<Value>) -> Result<Value, ApiError> {
    let config = config.unwrap_or_else(|| json!({}));
    let mode = str_field(&config, "recordingMode")
        .unwrap_or("INTERVAL")
        .to_owned();
    validate::one_of("recordingMode", &mode, &["INTERVAL", "DISABLED"])?;
    let interval = config
        .get("targetIntervalSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(60);
    validate::in_range("targetIntervalSeconds", interval, 1, 60)?;
    let mut storage = string_list(&config, "storage")?;
    if storage.is_empty() {
        storage.push("SEQUENTIAL".into());
    }
    for item in &storage {
        validate::one_of("storage", item, &["SEQUENTIAL", "LATEST"])?;
    }
    let mut out =
        json!({ "recordingMode": mode, "targetIntervalSeconds": interval, "storage": storage });
    if let Some(resolution) = str_field(&config, "resolution") {
        validate::one_of("resolution", resolution, RESOLUTIONS)?;
        out["resolution"] = json!(resolution);
    }
    Ok(out)
}

fn string_list(config: &Value, key: &str) -> Result<Vec<String>, ApiError> {
    match config.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(value) => serde_json::from_value(value.clone())
            .map_err(|_| ApiError::validation(format!("{key} must be a list of strings"))),
    }
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn(
        "arn",
        input::<ArnInput>(call)?.arn,
        "recording-configuration",
    )?;
    let config = find(&state.data.recording_configurations, &arn, &call.scope)?;
    json(json!({ "recordingConfiguration": config }))
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let page: Page = input(call)?;
    let items = page.of(
        &state.data.recording_configurations,
        &call.scope,
        (100, 100),
        |_| true,
        RecordingConfiguration::SUMMARY,
    )?;
    list_output("recordingConfigurations", items)
}

pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn(
        "arn",
        input::<ArnInput>(call)?.arn,
        "recording-configuration",
    )?;
    find(&state.data.recording_configurations, &arn, &call.scope)?;
    if state
        .data
        .channels
        .values()
        .any(|c| c.recording_configuration_arn == arn)
    {
        return Err(ApiError::conflict(
            "Recording configuration is attached to a channel; detach it first",
        ));
    }
    state.data.recording_configurations.remove(&arn);
    Ok(Output::NoContent)
}
