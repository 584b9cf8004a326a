//! Channel operations: create (with its stream key), get, batch get, list, update, delete.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    ArnInput, Page, batch_arns, batch_not_found, find, find_mut, input, json, list_output, now_iso,
    required_arn,
};
use crate::call::Call;
use crate::ids::{Scope, alnum, arn_id};
use crate::model::ivs::Srt;
use crate::model::{Channel, CreateChannelLog, State, StreamKey};
use crate::validate::{self, Tags};
use crate::wire::{ApiError, OpResult, Output};

const TYPES: &[&str] = &["BASIC", "STANDARD", "ADVANCED_SD", "ADVANCED_HD"];
const PRESETS: &[&str] = &[
    "HIGHER_BANDWIDTH_DELIVERY",
    "CONSTRAINED_BANDWIDTH_DELIVERY",
];

/// The settable channel fields, shared by CreateChannel and UpdateChannel.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ChannelInput {
    arn: Option<String>,
    name: Option<String>,
    latency_mode: Option<String>,
    #[serde(rename = "type")]
    channel_type: Option<String>,
    authorized: Option<bool>,
    recording_configuration_arn: Option<String>,
    insecure_ingest: Option<bool>,
    preset: Option<String>,
    playback_restriction_policy_arn: Option<String>,
    container_format: Option<String>,
    multitrack_input_configuration: Option<Value>,
    tags: Option<Tags>,
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input: ChannelInput = input(call)?;
    let scope = &call.scope;
    let mut channel = blank_channel(scope);
    apply(state, scope, &mut channel, input.clone_fields())?;
    let tags = input.tags.unwrap_or_default();
    validate::ivs_tags(&tags)?;
    channel.tags = tags;
    // Counting a region's channels is O(n); the total bounds it, so only count near the quota.
    let quota = state.config.quotas.channels;
    let in_region = || {
        state
            .data
            .channels
            .keys()
            .filter(|arn| super::in_scope(arn, scope))
            .count()
    };
    if state.data.channels.len() >= quota && in_region() >= quota {
        return Err(ApiError::quota(format!(
            "Limit of {quota} channels per region reached"
        )));
    }
    let key = StreamKey {
        arn: scope.ivs_arn("stream-key"),
        value: scope.stream_key_value(),
        channel_arn: channel.arn.clone(),
        tags: channel.tags.clone(),
    };
    let log = CreateChannelLog {
        arn: channel.arn.clone(),
        name: channel.name.clone(),
        tags: channel.tags.clone(),
        at: now_iso(),
    };
    let body = json!({ "channel": channel, "streamKey": key });
    state.data.create_channel_log.push(log);
    state.data.stream_keys.insert(key.arn.clone(), key);
    state.data.channels.insert(channel.arn.clone(), channel);
    json(body)
}

/// A channel with IVS's defaults (STANDARD, LOW latency, public, TS).
fn blank_channel(scope: &Scope) -> Channel {
    let arn = scope.ivs_arn("channel");
    let playback_url = scope.playback_url(arn_id(&arn));
    Channel {
        name: String::new(),
        latency_mode: "LOW".into(),
        channel_type: "STANDARD".into(),
        recording_configuration_arn: String::new(),
        ingest_endpoint: scope.ingest_endpoint(),
        playback_url,
        authorized: false,
        tags: Tags::new(),
        insecure_ingest: false,
        preset: String::new(),
        srt: Srt {
            endpoint: scope.srt_endpoint(),
            passphrase: None,
        },
        playback_restriction_policy_arn: String::new(),
        multitrack_input_configuration: None,
        container_format: "TS".into(),
        arn,
    }
}

impl ChannelInput {
    /// The settable fields without tags (tags are only taken by CreateChannel).
    fn clone_fields(&self) -> ChannelInput {
        ChannelInput {
            arn: None,
            name: self.name.clone(),
            latency_mode: self.latency_mode.clone(),
            channel_type: self.channel_type.clone(),
            authorized: self.authorized,
            recording_configuration_arn: self.recording_configuration_arn.clone(),
            insecure_ingest: self.insecure_ingest,
            preset: self.preset.clone(),
            playback_restriction_policy_arn: self.playback_restriction_policy_arn.clone(),
            container_format: self.container_format.clone(),
            multitrack_input_configuration: self.multitrack_input_configuration.clone(),
            tags: None,
        }
    }
}

/// Validates `input` and applies it to `channel` (all or nothing).
fn apply(
    state: &State,
    scope: &Scope,
    channel: &mut Channel,
    input: ChannelInput,
) -> Result<(), ApiError> {
    let mut next = channel.clone();
    if let Some(name) = input.name {
        validate::ivs_name("name", &name)?;
        next.name = name;
    }
    if let Some(mode) = input.latency_mode {
        validate::one_of("latencyMode", &mode, &["NORMAL", "LOW"])?;
        next.latency_mode = mode;
    }
    if let Some(kind) = input.channel_type {
        validate::one_of("type", &kind, TYPES)?;
        next.channel_type = kind;
    }
    next.authorized = input.authorized.unwrap_or(next.authorized);
    next.insecure_ingest = input.insecure_ingest.unwrap_or(next.insecure_ingest);
    if let Some(arn) = input.recording_configuration_arn {
        check_reference(state, scope, &arn)?;
        next.recording_configuration_arn = arn;
    }
    if let Some(arn) = input.playback_restriction_policy_arn {
        if !arn.is_empty() {
            validate::ivs_arn(
                "playbackRestrictionPolicyArn",
                &arn,
                "playback-restriction-policy",
            )?;
        }
        next.playback_restriction_policy_arn = arn;
    }
    if let Some(format) = input.container_format {
        validate::one_of("containerFormat", &format, &["TS", "FRAGMENTED_MP4"])?;
        next.container_format = format;
    }
    if let Some(multitrack) = input.multitrack_input_configuration {
        next.multitrack_input_configuration = Some(multitrack);
    }
    apply_preset(&mut next, input.preset)?;
    check_multitrack(&next)?;
    next.srt.passphrase = match (next.insecure_ingest, next.srt.passphrase.take()) {
        (true, _) => None,
        (false, Some(existing)) => Some(existing),
        (false, None) => Some(alnum(32)),
    };
    *channel = next;
    Ok(())
}

/// `preset` is only valid for ADVANCED_* types; they default to HIGHER_BANDWIDTH_DELIVERY, the
/// others always report "".
fn apply_preset(channel: &mut Channel, preset: Option<String>) -> Result<(), ApiError> {
    let advanced = channel.channel_type.starts_with("ADVANCED_");
    match preset.filter(|p| !p.is_empty()) {
        Some(preset) if !advanced => Err(ApiError::validation(format!(
            "preset '{preset}' is only allowed for ADVANCED_SD and ADVANCED_HD channels"
        ))),
        Some(preset) => {
            validate::one_of("preset", &preset, PRESETS)?;
            channel.preset = preset;
            Ok(())
        }
        None => {
            channel.preset = match (advanced, channel.preset.is_empty()) {
                (false, _) => String::new(),
                (true, true) => PRESETS[0].into(),
                (true, false) => channel.preset.clone(),
            };
            Ok(())
        }
    }
}

/// Multitrack input needs a STANDARD channel, FRAGMENTED_MP4 and its policy/resolution.
fn check_multitrack(channel: &Channel) -> Result<(), ApiError> {
    let Some(config) = &channel.multitrack_input_configuration else {
        return Ok(());
    };
    if config.get("enabled").and_then(Value::as_bool) != Some(true) {
        return Ok(());
    }
    if channel.channel_type != "STANDARD" || channel.container_format != "FRAGMENTED_MP4" {
        return Err(ApiError::validation(
            "multitrack input requires type STANDARD and containerFormat FRAGMENTED_MP4",
        ));
    }
    let policy = config
        .get("policy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    validate::one_of(
        "multitrackInputConfiguration.policy",
        policy,
        &["ALLOW", "REQUIRE"],
    )?;
    let resolution = config
        .get("maximumResolution")
        .and_then(Value::as_str)
        .unwrap_or_default();
    validate::one_of(
        "multitrackInputConfiguration.maximumResolution",
        resolution,
        &["SD", "HD", "FULL_HD"],
    )
}

/// A recording configuration a channel points at must exist in the region ("" detaches).
fn check_reference(state: &State, scope: &Scope, arn: &str) -> Result<(), ApiError> {
    if arn.is_empty() {
        return Ok(());
    }
    validate::ivs_arn("recordingConfigurationArn", arn, "recording-configuration")?;
    find(&state.data.recording_configurations, arn, scope).map(|_| ())
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "channel")?;
    let channel = find(&state.data.channels, &arn, &call.scope)?;
    json(json!({ "channel": channel }))
}

#[derive(Deserialize)]
struct BatchInput {
    arns: Option<Vec<String>>,
}

pub fn batch_get(state: &mut State, call: &Call) -> OpResult {
    let arns = batch_arns(input::<BatchInput>(call)?.arns, 50, "channel")?;
    let (mut channels, mut errors) = (Vec::new(), Vec::new());
    for arn in &arns {
        match find(&state.data.channels, arn, &call.scope) {
            Ok(channel) => channels.push(json!(channel)),
            Err(_) => errors.push(batch_not_found(arn)),
        }
    }
    json(json!({ "channels": channels, "errors": errors }))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    filter_by_name: Option<String>,
    filter_by_recording_configuration_arn: Option<String>,
    filter_by_playback_restriction_policy_arn: Option<String>,
    filter_by_ad_configuration_arn: Option<String>,
    filter_by_failover_slate_configuration_arn: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// filterByName is a **prefix** match: IVS does not document exact vs prefix, and a prefix match
/// is the stricter test of a caller (anyone looking a channel up by name must re-check names).
pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: ListInput = input(call)?;
    let filters = [
        &input.filter_by_name,
        &input.filter_by_recording_configuration_arn,
        &input.filter_by_playback_restriction_policy_arn,
        &input.filter_by_ad_configuration_arn,
        &input.filter_by_failover_slate_configuration_arn,
    ];
    if filters
        .iter()
        .filter(|f| f.as_deref().is_some_and(|v| !v.is_empty()))
        .count()
        > 1
    {
        return Err(ApiError::conflict("Only one filter can be used at a time"));
    }
    if let Some(name) = &input.filter_by_name {
        validate::ivs_name("filterByName", name)?;
    }
    let name = input.filter_by_name.unwrap_or_default();
    let recording = input
        .filter_by_recording_configuration_arn
        .filter(|a| !a.is_empty());
    let policy = input
        .filter_by_playback_restriction_policy_arn
        .filter(|a| !a.is_empty());
    let keep = |c: &Channel| {
        c.name.starts_with(&name)
            && recording
                .as_ref()
                .is_none_or(|arn| &c.recording_configuration_arn == arn)
            && policy
                .as_ref()
                .is_none_or(|arn| &c.playback_restriction_policy_arn == arn)
    };
    let page = input.page.of(
        &state.data.channels,
        &call.scope,
        (100, 100),
        keep,
        Channel::SUMMARY,
    )?;
    list_output("channels", page)
}

pub fn update(state: &mut State, call: &Call) -> OpResult {
    let input: ChannelInput = input(call)?;
    let arn = required_arn("arn", input.arn.clone(), "channel")?;
    if state.data.broadcasts.contains_key(&arn) {
        return Err(ApiError::conflict(
            "Live channels cannot be updated. Stop the stream first.",
        ));
    }
    let mut channel = find(&state.data.channels, &arn, &call.scope)?.clone();
    apply(state, &call.scope, &mut channel, input.clone_fields())?;
    let body = json!({ "channel": channel });
    *find_mut(&mut state.data.channels, &arn, &call.scope)? = channel;
    json(body)
}

/// Deletes the channel and its stream keys; refused while the channel is live.
pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let arn = required_arn("arn", input::<ArnInput>(call)?.arn, "channel")?;
    find(&state.data.channels, &arn, &call.scope)?;
    if state.data.broadcasts.contains_key(&arn) {
        return Err(ApiError::conflict(
            "Channel is live. Stop the stream before deleting the channel.",
        ));
    }
    state.data.channels.remove(&arn);
    state
        .data
        .stream_keys
        .retain(|_, key| key.channel_arn != arn);
    Ok(Output::NoContent)
}
