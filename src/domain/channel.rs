//! The channel resource: the request a caller sends and the validated spec we store. The
//! validation that turns one into the other lives in [`super::validation`] (every input rule of the Terraform module the
//! service replaces, see the README's channel fields, and IVS's own rules, docs/aws-facts.md §7,
//! §8; reported all at once, one entry per bad field).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Tags the service puts on every channel itself; callers may not set them.
pub const RESERVED_TAG_KEYS: [&str; 3] = ["Name", "ManagedBy", "Tenant"];
/// Prefix of the service's own identity tag (`ivs-provisioner:id`).
pub const RESERVED_TAG_PREFIX: &str = "ivs-provisioner:";
/// IVS allows 50 tags per resource; the service uses four of them.
pub const MAX_CALLER_TAGS: usize = 50 - 4;
/// `tenant`: 1-64 letters, numbers, hyphens and underscores.
pub const MAX_TENANT_CHARS: usize = 64;
/// `name`: 1-128 of the same, IVS's channel-name rule (docs/aws-facts.md §7).
pub const MAX_NAME_CHARS: usize = 128;
/// `delete_after`: an RFC 3339 time with nanoseconds and an offset has 35 characters; longer
/// input is refused before it is parsed.
pub const MAX_TIME_CHARS: usize = 64;
/// `recording.thumbnail_target_interval_seconds`, inclusive (IVS's range).
pub const THUMBNAIL_INTERVAL_SECS: (i64, i64) = (1, 60);
/// `recording.reconnect_window_seconds`, inclusive (IVS's range).
pub const RECONNECT_WINDOW_SECS: (i64, i64) = (0, 300);
/// `chat.maximum_message_rate_per_second`, inclusive, and IVS Chat's default (docs/aws-facts.md §12).
pub const CHAT_MESSAGE_RATE: (i64, i64) = (1, 100);
pub const CHAT_MESSAGE_RATE_DEFAULT: u32 = 10;
/// `chat.maximum_message_length` in characters, inclusive, and IVS Chat's default.
pub const CHAT_MESSAGE_LENGTH: (i64, i64) = (1, 500);
pub const CHAT_MESSAGE_LENGTH_DEFAULT: u32 = 500;
/// `live_window.grace_seconds`, inclusive: how long after `closes_at` the key still works.
pub const LIVE_WINDOW_GRACE_SECS: (i64, i64) = (0, 3600);
/// `live_window.grace_seconds` when not given: a class that overruns by a few minutes is not
/// cut off mid-sentence.
pub const DEFAULT_LIVE_WINDOW_GRACE_SECS: u32 = 300;
/// The longest live window, `closes_at - opens_at`: one day.
pub const MAX_LIVE_WINDOW_HOURS: i64 = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChannelType {
    Basic,
    Standard,
    AdvancedSd,
    AdvancedHd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Preset {
    HigherBandwidthDelivery,
    ConstrainedBandwidthDelivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LatencyMode {
    Low,
    Normal,
}

/// What IVS Chat does with a message when the review handler fails or times out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FallbackResult {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThumbnailRecordingMode {
    Interval,
    Disabled,
}

/// The body of `POST /v1/channels`, and the shape a `PATCH` merge patch applies to.
///
/// Enumerations arrive as strings so that a wrong value is reported with every other bad field
/// in one 422, instead of stopping at the first with a 400.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "tenant": "acme-fitness",
    "name": "yoga-2026-11-27-0700",
    "type": "STANDARD",
    "latency_mode": "LOW",
    "authorized": true,
    "recording": {"s3_bucket_name": "acme-class-recordings"},
    "tags": {"Environment": "production"},
    "delete_after": "2026-11-28T09:00:00Z"
}))]
pub struct ChannelRequest {
    /// Who the channel belongs to: 1-64 letters, numbers, hyphens, underscores.
    #[schema(
        example = "acme-fitness",
        required = true,
        min_length = 1,
        max_length = 64,
        pattern = "^[a-zA-Z0-9_-]{1,64}$"
    )]
    pub tenant: Option<String>,
    /// IVS channel name, unique per tenant among live channels: 1-128 letters, numbers, hyphens, underscores.
    #[schema(
        example = "yoga-2026-11-27-0700",
        required = true,
        min_length = 1,
        max_length = 128,
        pattern = "^[a-zA-Z0-9_-]{1,128}$"
    )]
    pub name: Option<String>,
    #[serde(rename = "type")]
    #[schema(value_type = Option<ChannelType>)]
    pub channel_type: Option<String>,
    /// Only for ADVANCED_SD and ADVANCED_HD channels.
    #[schema(value_type = Option<Preset>)]
    pub preset: Option<String>,
    #[schema(value_type = Option<LatencyMode>)]
    pub latency_mode: Option<String>,
    /// When true, playback requires a signed token.
    pub authorized: Option<bool>,
    /// When true, plain RTMP ingest is allowed as well as RTMPS.
    pub insecure_ingest: Option<bool>,
    /// An EC P-384 public key (SubjectPublicKeyInfo PEM) whose private half the caller signs
    /// tokens with. Only with `authorized = true`. Never send the private key.
    #[schema(max_length = 4096, pattern = "-----BEGIN PUBLIC KEY-----")]
    pub playback_public_key_pem: Option<String>,
    /// Record broadcasts to S3; null or absent disables recording.
    pub recording: Option<RecordingRequest>,
    /// An IVS Chat room beside the channel; null or absent means no room.
    pub chat: Option<ChatRequest>,
    /// Extra tags for the IVS channel (at most 46: IVS allows 50 and the service uses 4); keys
    /// 1-128 characters, values up to 256.
    pub tags: Option<BTreeMap<String, String>>,
    /// RFC 3339 time after which the service deletes the channel.
    #[schema(value_type = Option<DateTime<Utc>>, max_length = 64)]
    pub delete_after: Option<String>,
    /// When the channel may be broadcast to: it has a stream key (in IVS and SSM) only from
    /// `opens_at` to `closes_at + grace_seconds`. Null or absent: always.
    pub live_window: Option<LiveWindowRequest>,
}

/// A class's live window as a request gives it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiveWindowRequest {
    /// RFC 3339 time the stream key is created and published.
    #[schema(value_type = Option<DateTime<Utc>>, required = true, max_length = 64)]
    pub opens_at: Option<String>,
    /// RFC 3339 time the class ends: after `opens_at`, at most 24 hours later, in the future.
    #[schema(value_type = Option<DateTime<Utc>>, required = true, max_length = 64)]
    pub closes_at: Option<String>,
    /// 0-3600, default 300: seconds after `closes_at` before the key is deleted and the stream
    /// stopped.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 3600)]
    pub grace_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingRequest {
    /// An existing S3 bucket in the service's region (S3's naming rules: 3-63 lowercase
    /// letters, numbers, dots and hyphens, and more).
    #[schema(
        example = "acme-class-recordings",
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    pub s3_bucket_name: Option<String>,
    #[schema(value_type = Option<ThumbnailRecordingMode>)]
    pub thumbnail_recording_mode: Option<String>,
    /// 1-60, default 60; used with INTERVAL thumbnails.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 60)]
    pub thumbnail_target_interval_seconds: Option<i64>,
    /// 0-300, default 0: reconnects within this window continue the same recording.
    #[schema(value_type = Option<u32>, minimum = 0, maximum = 300)]
    pub reconnect_window_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "maximum_message_rate_per_second": 10,
    "maximum_message_length": 300,
    "log_to_s3_bucket": "acme-class-recordings"
}))]
pub struct ChatRequest {
    /// Default true; false deletes the room but keeps these settings.
    pub enabled: Option<bool>,
    /// 1-100 messages per second for the whole room, default 10.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub maximum_message_rate_per_second: Option<i64>,
    /// 1-500 characters (code points) per message, default 500.
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub maximum_message_length: Option<i64>,
    /// A Lambda function that reviews (allows, denies or rewrites) each message.
    pub message_review_handler: Option<MessageReviewHandlerRequest>,
    /// Archive the chat log to this existing S3 bucket (S3's naming rules), e.g. the
    /// recording bucket, so a class's transcript lands next to its recording.
    #[schema(
        example = "acme-class-recordings",
        min_length = 3,
        max_length = 63,
        pattern = "^[a-z0-9][a-z0-9.-]*[a-z0-9]$"
    )]
    pub log_to_s3_bucket: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageReviewHandlerRequest {
    /// The ARN of a Lambda function, `arn:aws:lambda:<region>:<account>:function:<name>`.
    #[schema(
        example = "arn:aws:lambda:eu-west-1:123456789012:function:review-chat",
        required = true,
        max_length = 170,
        pattern = "^arn:aws:lambda:[a-z0-9-]+:[0-9]{12}:function:.+"
    )]
    pub lambda_arn: Option<String>,
    /// What happens to a message when the handler fails or times out; default ALLOW.
    #[schema(value_type = Option<FallbackResult>)]
    pub fallback_result: Option<String>,
}

/// A validated channel spec with every default filled in: what is stored and what the
/// reconciler makes true.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChannelSpec {
    pub tenant: String,
    pub name: String,
    #[serde(rename = "type")]
    pub channel_type: ChannelType,
    /// Null lets IVS choose (HIGHER_BANDWIDTH_DELIVERY for ADVANCED types).
    pub preset: Option<Preset>,
    pub latency_mode: LatencyMode,
    pub authorized: bool,
    pub insecure_ingest: bool,
    pub playback_public_key_pem: Option<String>,
    pub recording: Option<RecordingSpec>,
    /// Absent from specs stored before chat existed, and from channels without chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatSpec>,
    pub tags: BTreeMap<String, String>,
    pub delete_after: Option<DateTime<Utc>>,
    /// Null: the channel has a stream key whenever it is provisioned.
    pub live_window: Option<LiveWindow>,
}

/// A validated live window: ingest is open from `opens_at` until `closes_at + grace_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LiveWindow {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub grace_seconds: u32,
}

impl LiveWindow {
    /// When the stream key is deleted and a live stream stopped.
    pub fn ingest_closes_at(&self) -> DateTime<Utc> {
        self.closes_at + chrono::Duration::seconds(i64::from(self.grace_seconds))
    }

    pub fn is_open_at(&self, now: DateTime<Utc>) -> bool {
        self.opens_at <= now && now < self.ingest_closes_at()
    }

    /// The next time after `now` at which the window opens or closes; none once it has closed.
    pub fn next_edge_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        [self.opens_at, self.ingest_closes_at()]
            .into_iter()
            .find(|edge| now < *edge)
    }
}

/// Whether a channel may have a stream key at `now`: always without a window.
pub fn ingest_open(window: Option<&LiveWindow>, now: DateTime<Utc>) -> bool {
    window.is_none_or(|w| w.is_open_at(now))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct ChatSpec {
    pub enabled: bool,
    pub maximum_message_rate_per_second: u32,
    pub maximum_message_length: u32,
    pub message_review_handler: Option<MessageReviewHandlerSpec>,
    pub log_to_s3_bucket: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct MessageReviewHandlerSpec {
    pub lambda_arn: String,
    pub fallback_result: FallbackResult,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct RecordingSpec {
    pub s3_bucket_name: String,
    pub thumbnail_recording_mode: ThumbnailRecordingMode,
    pub thumbnail_target_interval_seconds: u32,
    pub reconnect_window_seconds: u32,
}

impl ChannelSpec {
    /// The chat settings when the channel should have a room now.
    pub fn chat_room(&self) -> Option<&ChatSpec> {
        self.chat.as_ref().filter(|c| c.enabled)
    }

    /// The spec as a JSON document in the request's shape: what a merge patch applies to.
    pub fn to_request_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// The channel's ARN and playback URL when the service may sign a playback token for it, else
/// why not. `updating` is accepted: a spec change or a stream-key rotation must not stop viewers
/// joining.
pub fn mintable<'a>(
    authorized: bool,
    caller_key: bool,
    phase: crate::domain::Phase,
    arn: Option<&'a str>,
    playback_url: Option<&'a str>,
) -> Result<(&'a str, &'a str), String> {
    if !authorized {
        return Err(
            "the channel is public (authorized: false): viewers need no token; use its playback_url as is".into(),
        );
    }
    if caller_key {
        return Err(
            "the channel uses a caller-supplied playback key (playback_public_key_pem): sign its tokens \
             with your own private key; the service does not hold it"
                .into(),
        );
    }
    match (phase.may_mint(), arn, playback_url) {
        (true, Some(arn), Some(url)) => Ok((arn, url)),
        _ => Err(format!(
            "the channel is not ready yet (phase: {}); tokens can be minted once it is ready",
            phase.as_str()
        )),
    }
}
