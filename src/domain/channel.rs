//! The channel resource: the request a caller sends, the validated spec we store, and the
//! validation that turns one into the other (every rule of the seed's variables.tf and of
//! DESIGN.md §3, reported all at once, one entry per bad field).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;
use super::rules;

/// Tags the service puts on every channel itself; callers may not set them.
pub const RESERVED_TAG_KEYS: [&str; 3] = ["Name", "ManagedBy", "Tenant"];
/// Prefix of the service's own identity tag (`ivs-provisioner:id`).
pub const RESERVED_TAG_PREFIX: &str = "ivs-provisioner:";
/// IVS allows 50 tags per resource; the service uses four of them.
pub const MAX_CALLER_TAGS: usize = 50 - 4;

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
        pattern = "^[a-zA-Z0-9_-]{1,64}$"
    )]
    pub tenant: Option<String>,
    /// IVS channel name, unique per tenant among live channels: 1-128 letters, numbers, hyphens, underscores.
    #[schema(
        example = "yoga-2026-11-27-0700",
        required = true,
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
    pub playback_public_key_pem: Option<String>,
    /// Record broadcasts to S3; null or absent disables recording.
    pub recording: Option<RecordingRequest>,
    /// Extra tags for the IVS channel (at most 46: IVS allows 50 and the service uses 4).
    pub tags: Option<BTreeMap<String, String>>,
    /// RFC 3339 time after which the service deletes the channel.
    #[schema(value_type = Option<DateTime<Utc>>)]
    pub delete_after: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordingRequest {
    /// An existing S3 bucket in the service's region.
    #[schema(example = "acme-class-recordings")]
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
    pub tags: BTreeMap<String, String>,
    pub delete_after: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct RecordingSpec {
    pub s3_bucket_name: String,
    pub thumbnail_recording_mode: ThumbnailRecordingMode,
    pub thumbnail_target_interval_seconds: u32,
    pub reconnect_window_seconds: u32,
}

/// Collects field errors so a request is checked as a whole.
#[derive(Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Records the error of a rule, if any, and hands back the value when it passed.
    fn check<T>(
        &mut self,
        field: &str,
        value: T,
        rule: impl FnOnce(&T) -> Result<(), String>,
    ) -> Option<T> {
        match rule(&value) {
            Ok(()) => Some(value),
            Err(message) => {
                self.add(field, message);
                None
            }
        }
    }

    fn required(&mut self, field: &str, value: Option<String>) -> Option<String> {
        if value.is_none() {
            self.add(field, format!("{} is required", &field[1..]));
        }
        value
    }
}

/// Parses an upper-case enumeration the way serde would, with a message listing the choices.
fn parse_enum<T: for<'de> Deserialize<'de>>(
    errors: &mut Errors,
    field: &str,
    value: Option<String>,
    choices: &str,
) -> Option<Option<T>> {
    let Some(raw) = value else { return Some(None) };
    match serde_json::from_value(serde_json::Value::String(raw)) {
        Ok(parsed) => Some(Some(parsed)),
        Err(_) => {
            errors.add(field, format!("{} must be one of {choices}", &field[1..]));
            None
        }
    }
}

fn range(
    errors: &mut Errors,
    field: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
    default: u32,
) -> Option<u32> {
    match value {
        None => Some(default),
        Some(v) if (min..=max).contains(&v) => Some(v as u32),
        Some(_) => {
            let name = field.rsplit('/').next().unwrap_or(field);
            errors.add(field, format!("{name} must be between {min} and {max}"));
            None
        }
    }
}

impl ChannelRequest {
    /// Validates the request against every rule and fills in the defaults.
    ///
    /// `previous` is the spec being patched, if any: an unchanged `delete_after` that has since
    /// passed is not refused again.
    pub fn validate(
        self,
        now: DateTime<Utc>,
        previous: Option<&ChannelSpec>,
    ) -> Result<ChannelSpec, Vec<FieldError>> {
        let mut errors = Errors::default();

        let tenant = errors
            .required("/tenant", self.tenant)
            .and_then(|t| errors.check("/tenant", t, |t| rules::identifier(t, "tenant", 64)));
        let name = errors
            .required("/name", self.name)
            .and_then(|n| errors.check("/name", n, |n| rules::identifier(n, "name", 128)));

        let channel_type = parse_enum::<ChannelType>(
            &mut errors,
            "/type",
            self.channel_type,
            "BASIC, STANDARD, ADVANCED_SD, or ADVANCED_HD",
        )
        .map(|t| t.unwrap_or(ChannelType::Standard));
        let preset = parse_enum::<Preset>(
            &mut errors,
            "/preset",
            self.preset,
            "HIGHER_BANDWIDTH_DELIVERY or CONSTRAINED_BANDWIDTH_DELIVERY",
        );
        if let (Some(t), Some(Some(_))) = (channel_type, preset)
            && matches!(t, ChannelType::Basic | ChannelType::Standard)
        {
            errors.add(
                "/preset",
                "preset can only be set for ADVANCED_SD and ADVANCED_HD channels",
            );
        }
        let latency_mode = parse_enum::<LatencyMode>(
            &mut errors,
            "/latency_mode",
            self.latency_mode,
            "LOW or NORMAL",
        )
        .map(|m| m.unwrap_or(LatencyMode::Low));

        let authorized = self.authorized.unwrap_or(false);
        let playback_public_key_pem = self.playback_public_key_pem.and_then(|pem| {
            if !authorized {
                errors.add(
                    "/playback_public_key_pem",
                    "playback_public_key_pem can only be set when authorized is true",
                );
                return None;
            }
            errors.check("/playback_public_key_pem", pem, |p| {
                rules::playback_public_key_pem(p)
            })
        });

        let recording = self.recording.map(|r| validate_recording(&mut errors, r));
        let tags = validate_tags(&mut errors, self.tags.unwrap_or_default());
        let delete_after = self.delete_after.map(|raw| {
            validate_delete_after(
                &mut errors,
                &raw,
                now,
                previous.and_then(|p| p.delete_after),
            )
        });

        if !errors.0.is_empty() {
            return Err(errors.0);
        }
        // Every `None` below was recorded as an error above, so these cannot fail.
        let missing = || vec![FieldError::new("", "internal validation error")];
        Ok(ChannelSpec {
            tenant: tenant.ok_or_else(missing)?,
            name: name.ok_or_else(missing)?,
            channel_type: channel_type.ok_or_else(missing)?,
            preset: preset.ok_or_else(missing)?,
            latency_mode: latency_mode.ok_or_else(missing)?,
            authorized,
            insecure_ingest: self.insecure_ingest.unwrap_or(false),
            playback_public_key_pem: playback_public_key_pem.map(|p| p.trim().to_owned()),
            recording: recording.flatten(),
            tags,
            delete_after: delete_after.flatten(),
        })
    }
}

fn validate_recording(errors: &mut Errors, r: RecordingRequest) -> Option<RecordingSpec> {
    let bucket = match r.s3_bucket_name {
        None => {
            errors.add(
                "/recording/s3_bucket_name",
                "s3_bucket_name is required when recording is set",
            );
            None
        }
        Some(b) => errors.check("/recording/s3_bucket_name", b, |b| rules::s3_bucket_name(b)),
    };
    let mode = parse_enum::<ThumbnailRecordingMode>(
        errors,
        "/recording/thumbnail_recording_mode",
        r.thumbnail_recording_mode,
        "INTERVAL or DISABLED",
    )
    .map(|m| m.unwrap_or(ThumbnailRecordingMode::Interval));
    let interval = range(
        errors,
        "/recording/thumbnail_target_interval_seconds",
        r.thumbnail_target_interval_seconds,
        1,
        60,
        60,
    );
    let window = range(
        errors,
        "/recording/reconnect_window_seconds",
        r.reconnect_window_seconds,
        0,
        300,
        0,
    );
    Some(RecordingSpec {
        s3_bucket_name: bucket?,
        thumbnail_recording_mode: mode?,
        thumbnail_target_interval_seconds: interval?,
        reconnect_window_seconds: window?,
    })
}

fn validate_tags(errors: &mut Errors, tags: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if tags.len() > MAX_CALLER_TAGS {
        errors.add(
            "/tags",
            format!(
                "at most {MAX_CALLER_TAGS} tags are allowed (IVS allows 50 per channel and the service sets 4: \
                 Name, ManagedBy, Tenant, ivs-provisioner:id); {} were given",
                tags.len()
            ),
        );
    }
    for (key, value) in &tags {
        let pointer = format!("/tags/{}", key.replace('~', "~0").replace('/', "~1"));
        let reserved =
            RESERVED_TAG_KEYS.contains(&key.as_str()) || key.starts_with(RESERVED_TAG_PREFIX);
        if reserved {
            errors.add(
                &pointer,
                format!("tag key '{key}' is set by the service and cannot be given"),
            );
        } else if let Err(message) = rules::tag_key(key).and_then(|()| rules::tag_value(value)) {
            errors.add(&pointer, message);
        }
    }
    tags
}

fn validate_delete_after(
    errors: &mut Errors,
    raw: &str,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let Ok(at) = DateTime::parse_from_rfc3339(raw).map(|t| t.with_timezone(&Utc)) else {
        errors.add(
            "/delete_after",
            "delete_after must be an RFC 3339 time, e.g. 2026-11-28T09:00:00Z",
        );
        return None;
    };
    if at <= now && previous != Some(at) {
        errors.add("/delete_after", "delete_after must be in the future");
        return None;
    }
    Some(at)
}

impl ChannelSpec {
    /// The spec as a JSON document in the request's shape: what a merge patch applies to.
    pub fn to_request_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: serde_json::Value) -> ChannelRequest {
        serde_json::from_value(body).expect("request shape")
    }

    fn fields(result: Result<ChannelSpec, Vec<FieldError>>) -> Vec<String> {
        result
            .expect_err("should be invalid")
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn minimal_request_gets_the_seed_defaults() {
        let spec = request(json!({"tenant": "t1", "name": "c1"}))
            .validate(Utc::now(), None)
            .unwrap();
        assert_eq!(spec.channel_type, ChannelType::Standard);
        assert_eq!(spec.latency_mode, LatencyMode::Low);
        assert!(!spec.authorized && !spec.insecure_ingest);
        assert_eq!(spec.recording, None);
        assert_eq!(spec.preset, None);
    }

    #[test]
    fn recording_defaults_match_the_seed() {
        let spec = request(
            json!({"tenant": "t", "name": "c", "recording": {"s3_bucket_name": "my-bucket"}}),
        )
        .validate(Utc::now(), None)
        .unwrap();
        let rec = spec.recording.unwrap();
        assert_eq!(
            rec.thumbnail_recording_mode,
            ThumbnailRecordingMode::Interval
        );
        assert_eq!(rec.thumbnail_target_interval_seconds, 60);
        assert_eq!(rec.reconnect_window_seconds, 0);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let result = request(json!({
            "tenant": "bad tenant",
            "name": "",
            "type": "HUGE",
            "latency_mode": "FAST",
            "recording": {"s3_bucket_name": "UPPER", "thumbnail_target_interval_seconds": 0, "reconnect_window_seconds": 301},
            "tags": {"aws:x": "1", "Name": "n"},
            "delete_after": "yesterday"
        }))
        .validate(Utc::now(), None);
        let mut got = fields(result);
        got.sort();
        assert_eq!(
            got,
            vec![
                "/delete_after",
                "/latency_mode",
                "/name",
                "/recording/reconnect_window_seconds",
                "/recording/s3_bucket_name",
                "/recording/thumbnail_target_interval_seconds",
                "/tags/Name",
                "/tags/aws:x",
                "/tenant",
                "/type",
            ]
        );
    }

    #[test]
    fn preset_only_with_advanced_types() {
        let bad = request(
            json!({"tenant": "t", "name": "c", "type": "STANDARD", "preset": "HIGHER_BANDWIDTH_DELIVERY"}),
        );
        assert_eq!(fields(bad.validate(Utc::now(), None)), vec!["/preset"]);
        let ok = request(
            json!({"tenant": "t", "name": "c", "type": "ADVANCED_HD", "preset": "CONSTRAINED_BANDWIDTH_DELIVERY"}),
        );
        assert_eq!(
            ok.validate(Utc::now(), None).unwrap().preset,
            Some(Preset::ConstrainedBandwidthDelivery)
        );
    }

    #[test]
    fn public_key_only_with_authorized() {
        let pem = include_str!("../../tests/fixtures/p384-public.pem");
        let bad = request(json!({"tenant": "t", "name": "c", "playback_public_key_pem": pem}));
        assert_eq!(
            fields(bad.validate(Utc::now(), None)),
            vec!["/playback_public_key_pem"]
        );
        let ok = request(
            json!({"tenant": "t", "name": "c", "authorized": true, "playback_public_key_pem": pem}),
        );
        assert!(ok.validate(Utc::now(), None).is_ok());
        for other in [
            include_str!("../../tests/fixtures/p256-public.pem"),
            include_str!("../../tests/fixtures/rsa-public.pem"),
        ] {
            let bad = request(
                json!({"tenant": "t", "name": "c", "authorized": true, "playback_public_key_pem": other}),
            );
            assert_eq!(
                fields(bad.validate(Utc::now(), None)),
                vec!["/playback_public_key_pem"]
            );
        }
    }

    #[test]
    fn tag_count_includes_the_services_own_tags() {
        let tags: BTreeMap<String, String> =
            (0..47).map(|i| (format!("k{i}"), "v".into())).collect();
        let bad = request(json!({"tenant": "t", "name": "c", "tags": tags}));
        assert_eq!(fields(bad.validate(Utc::now(), None)), vec!["/tags"]);
        let tags: BTreeMap<String, String> =
            (0..46).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(
            request(json!({"tenant": "t", "name": "c", "tags": tags}))
                .validate(Utc::now(), None)
                .is_ok()
        );
    }

    #[test]
    fn delete_after_must_be_in_the_future_unless_unchanged() {
        let past = "2020-01-01T00:00:00Z";
        let bad = request(json!({"tenant": "t", "name": "c", "delete_after": past}));
        assert_eq!(
            fields(bad.validate(Utc::now(), None)),
            vec!["/delete_after"]
        );
        let mut previous = request(json!({"tenant": "t", "name": "c"}))
            .validate(Utc::now(), None)
            .unwrap();
        previous.delete_after = Some(past.parse().unwrap());
        let unchanged = request(json!({"tenant": "t", "name": "c", "delete_after": past}));
        assert!(unchanged.validate(Utc::now(), Some(&previous)).is_ok());
    }

    #[test]
    fn a_spec_round_trips_through_its_request_shape() {
        let spec = request(json!({
            "tenant": "t", "name": "c", "type": "ADVANCED_SD", "authorized": true,
            "recording": {"s3_bucket_name": "b-1", "thumbnail_recording_mode": "DISABLED"},
            "tags": {"Team": "live"}, "delete_after": "2999-01-01T00:00:00Z"
        }))
        .validate(Utc::now(), None)
        .unwrap();
        let again = request(spec.to_request_json())
            .validate(Utc::now(), Some(&spec))
            .unwrap();
        assert_eq!(spec, again);
    }
}
