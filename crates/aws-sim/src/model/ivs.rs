//! IVS resource shapes. Field names serialise exactly as IVS's JSON (camelCase), so the wire
//! output is these structs minus dump-only fields.

use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use crate::validate::Tags;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Srt {
    pub endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    pub arn: String,
    pub name: String,
    pub latency_mode: String,
    #[serde(rename = "type")]
    pub channel_type: String,
    pub recording_configuration_arn: String,
    pub ingest_endpoint: String,
    pub playback_url: String,
    pub authorized: bool,
    pub tags: Tags,
    pub insecure_ingest: bool,
    pub preset: String,
    pub srt: Srt,
    pub playback_restriction_policy_arn: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multitrack_input_configuration: Option<Value>,
    pub container_format: String,
}

impl Channel {
    pub const SUMMARY: &[&str] = &[
        "arn",
        "name",
        "latencyMode",
        "authorized",
        "recordingConfigurationArn",
        "tags",
        "insecureIngest",
        "type",
        "preset",
        "playbackRestrictionPolicyArn",
    ];
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamKey {
    pub arn: String,
    pub value: String,
    pub channel_arn: String,
    pub tags: Tags,
}

impl StreamKey {
    pub const SUMMARY: &[&str] = &["arn", "channelArn", "tags"];
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordingConfiguration {
    pub arn: String,
    pub name: String,
    pub destination_configuration: Value,
    pub state: String,
    pub tags: Tags,
    pub thumbnail_configuration: Value,
    pub recording_reconnect_window_seconds: i64,
    pub rendition_configuration: Value,
    /// When CREATING ends; the outcome is already decided (`will_fail`).
    #[serde(skip)]
    pub ready_at: Instant,
    #[serde(skip)]
    pub will_fail: bool,
}

impl RecordingConfiguration {
    pub const SUMMARY: &[&str] = &["arn", "name", "destinationConfiguration", "state", "tags"];

    pub fn settle(&mut self, now: Instant) {
        if self.state == "CREATING" && now >= self.ready_at {
            self.state = if self.will_fail {
                "CREATE_FAILED"
            } else {
                "ACTIVE"
            }
            .into();
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaybackKeyPair {
    pub arn: String,
    pub name: String,
    pub fingerprint: String,
    pub tags: Tags,
    /// Dump only: the imported PEM, so tests can verify tokens against it.
    pub public_key_material: String,
}

impl PlaybackKeyPair {
    pub const SUMMARY: &[&str] = &["arn", "name", "tags"];
    pub const WIRE: &[&str] = &["arn", "name", "fingerprint", "tags"];
}

/// A fake live session started through the admin hook.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Broadcast {
    pub channel_arn: String,
    pub stream_id: String,
    pub playback_url: String,
    pub start_time: String,
    pub state: String,
    pub health: String,
    pub viewer_count: i64,
}

impl Broadcast {
    pub const SUMMARY: &[&str] = &[
        "channelArn",
        "streamId",
        "state",
        "health",
        "viewerCount",
        "startTime",
    ];
}

/// One StartViewerSessionRevocation (or one item of a batch), recorded for assertions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub channel_arn: String,
    pub viewer_id: String,
    pub viewer_session_versions_less_than_or_equal_to: i64,
    pub batch: bool,
    pub at: String,
}

/// Every CreateChannel that created a channel, with the tags it was created with, so tests can
/// count creates per identity tag (duplicates from retried creates show up here).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateChannelLog {
    pub arn: String,
    pub name: String,
    pub tags: Tags,
    pub at: String,
}
