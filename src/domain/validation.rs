//! Validation of a channel request into a spec: every rule checked, every bad field reported at
//! once with a message a person can act on, defaults filled in.

use std::collections::BTreeMap;

use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;

use super::FieldError;
use super::channel::{
    CHAT_MESSAGE_LENGTH, CHAT_MESSAGE_LENGTH_DEFAULT, CHAT_MESSAGE_RATE, CHAT_MESSAGE_RATE_DEFAULT,
    ChannelRequest, ChannelSpec, ChannelType, ChatRequest, ChatSpec,
    DEFAULT_LIVE_WINDOW_GRACE_SECS, FallbackResult, LIVE_WINDOW_GRACE_SECS, LatencyMode,
    LiveWindow, LiveWindowRequest, MAX_CALLER_TAGS, MAX_LIVE_WINDOW_HOURS, MAX_NAME_CHARS,
    MAX_TENANT_CHARS, MAX_TIME_CHARS, MessageReviewHandlerRequest, MessageReviewHandlerSpec,
    Preset, RECONNECT_WINDOW_SECS, RESERVED_TAG_KEYS, RESERVED_TAG_PREFIX, RecordingRequest,
    RecordingSpec, THUMBNAIL_INTERVAL_SECS, ThumbnailRecordingMode,
};
use super::rules;

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

        let tenant = errors.required("/tenant", self.tenant).and_then(|t| {
            errors.check("/tenant", t, |t| {
                rules::identifier(t, "tenant", MAX_TENANT_CHARS)
            })
        });
        let name = errors.required("/name", self.name).and_then(|n| {
            errors.check("/name", n, |n| rules::identifier(n, "name", MAX_NAME_CHARS))
        });

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
        let chat = self.chat.map(|c| validate_chat(&mut errors, c));
        let tags = validate_tags(&mut errors, self.tags.unwrap_or_default());
        let delete_after = self.delete_after.map(|raw| {
            validate_delete_after(
                &mut errors,
                &raw,
                now,
                previous.and_then(|p| p.delete_after),
            )
        });
        let live_window = self.live_window.map(|w| {
            validate_live_window(&mut errors, w, now, previous.and_then(|p| p.live_window))
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
            chat: chat.flatten(),
            tags,
            delete_after: delete_after.flatten(),
            live_window: live_window.flatten(),
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
        THUMBNAIL_INTERVAL_SECS.0,
        THUMBNAIL_INTERVAL_SECS.1,
        60,
    );
    let window = range(
        errors,
        "/recording/reconnect_window_seconds",
        r.reconnect_window_seconds,
        RECONNECT_WINDOW_SECS.0,
        RECONNECT_WINDOW_SECS.1,
        0,
    );
    Some(RecordingSpec {
        s3_bucket_name: bucket?,
        thumbnail_recording_mode: mode?,
        thumbnail_target_interval_seconds: interval?,
        reconnect_window_seconds: window?,
    })
}

fn validate_chat(errors: &mut Errors, c: ChatRequest) -> Option<ChatSpec> {
    let rate = range(
        errors,
        "/chat/maximum_message_rate_per_second",
        c.maximum_message_rate_per_second,
        CHAT_MESSAGE_RATE.0,
        CHAT_MESSAGE_RATE.1,
        CHAT_MESSAGE_RATE_DEFAULT,
    );
    let length = range(
        errors,
        "/chat/maximum_message_length",
        c.maximum_message_length,
        CHAT_MESSAGE_LENGTH.0,
        CHAT_MESSAGE_LENGTH.1,
        CHAT_MESSAGE_LENGTH_DEFAULT,
    );
    // Absent is `Some(None)`; present but invalid is `None` (recorded as an error).
    let handler = match c.message_review_handler {
        None => Some(None),
        Some(h) => validate_review_handler(errors, h).map(Some),
    };
    let bucket = match c.log_to_s3_bucket {
        None => Some(None),
        Some(b) => errors
            .check("/chat/log_to_s3_bucket", b, |b| rules::s3_bucket_name(b))
            .map(Some),
    };
    Some(ChatSpec {
        enabled: c.enabled.unwrap_or(true),
        maximum_message_rate_per_second: rate?,
        maximum_message_length: length?,
        message_review_handler: handler?,
        log_to_s3_bucket: bucket?,
    })
}

fn validate_review_handler(
    errors: &mut Errors,
    h: MessageReviewHandlerRequest,
) -> Option<MessageReviewHandlerSpec> {
    let field = "/chat/message_review_handler/lambda_arn";
    let arn = match h.lambda_arn {
        None => {
            errors.add(
                field,
                "lambda_arn is required when message_review_handler is set",
            );
            None
        }
        Some(a) => errors.check(field, a, |a| rules::lambda_function_arn(a)),
    };
    let fallback = parse_enum::<FallbackResult>(
        errors,
        "/chat/message_review_handler/fallback_result",
        h.fallback_result,
        "ALLOW or DENY",
    )
    .map(|f| f.unwrap_or(FallbackResult::Allow));
    Some(MessageReviewHandlerSpec {
        lambda_arn: arn?,
        fallback_result: fallback?,
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

/// An RFC 3339 time, or an error naming `field`. Kept to Postgres' precision (microseconds), so
/// a time in the spec and the same time in a column (`delete_after`, the window's due time) agree.
fn parse_time(errors: &mut Errors, field: &str, raw: &str) -> Option<DateTime<Utc>> {
    let parsed = Some(raw)
        .filter(|raw| raw.chars().count() <= MAX_TIME_CHARS)
        .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok());
    if parsed.is_none() {
        let name = field.rsplit('/').next().unwrap_or(field);
        errors.add(
            field,
            format!("{name} must be an RFC 3339 time, e.g. 2026-11-28T09:00:00Z"),
        );
    }
    parsed.map(|t| t.with_timezone(&Utc).trunc_subsecs(6))
}

fn validate_delete_after(
    errors: &mut Errors,
    raw: &str,
    now: DateTime<Utc>,
    previous: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    let at = parse_time(errors, "/delete_after", raw)?;
    if at <= now && previous != Some(at) {
        errors.add("/delete_after", "delete_after must be in the future");
        return None;
    }
    Some(at)
}

/// Both times required; closes after opens, at most a day later, and in the future (unless it
/// is the window already stored: a patch of another field after the class is not refused).
fn validate_live_window(
    errors: &mut Errors,
    w: LiveWindowRequest,
    now: DateTime<Utc>,
    previous: Option<LiveWindow>,
) -> Option<LiveWindow> {
    let opens_at = window_time(errors, "/live_window/opens_at", w.opens_at);
    let closes_at = window_time(errors, CLOSES_AT, w.closes_at).filter(|at| {
        let past = *at <= now && previous.map(|p| p.closes_at) != Some(*at);
        if past {
            errors.add(CLOSES_AT, "closes_at must be in the future");
        }
        !past
    });
    let grace_seconds = range(
        errors,
        "/live_window/grace_seconds",
        w.grace_seconds,
        LIVE_WINDOW_GRACE_SECS.0,
        LIVE_WINDOW_GRACE_SECS.1,
        DEFAULT_LIVE_WINDOW_GRACE_SECS,
    );
    let (opens_at, closes_at) = (opens_at?, closes_at?);
    if let Err(message) = window_length(opens_at, closes_at) {
        errors.add(CLOSES_AT, message);
        return None;
    }
    Some(LiveWindow {
        opens_at,
        closes_at,
        grace_seconds: grace_seconds?,
    })
}

const CLOSES_AT: &str = "/live_window/closes_at";

fn window_time(errors: &mut Errors, field: &str, raw: Option<String>) -> Option<DateTime<Utc>> {
    let Some(raw) = raw else {
        let name = field.rsplit('/').next().unwrap_or(field);
        errors.add(field, format!("{name} is required when live_window is set"));
        return None;
    };
    parse_time(errors, field, &raw)
}

fn window_length(opens_at: DateTime<Utc>, closes_at: DateTime<Utc>) -> Result<(), String> {
    if closes_at <= opens_at {
        return Err("closes_at must be after opens_at".into());
    }
    if closes_at - opens_at > chrono::Duration::hours(MAX_LIVE_WINDOW_HOURS) {
        return Err(format!(
            "the window is at most {MAX_LIVE_WINDOW_HOURS} hours long"
        ));
    }
    Ok(())
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
    fn chat_defaults_follow_ivs_chat() {
        let spec = request(json!({"tenant": "t", "name": "c", "chat": {}}))
            .validate(Utc::now(), None)
            .unwrap();
        let chat = spec.chat_room().expect("enabled by default");
        assert_eq!(chat.maximum_message_rate_per_second, 10);
        assert_eq!(chat.maximum_message_length, 500);
        assert_eq!(chat.message_review_handler, None);
        let handler = request(json!({"tenant": "t", "name": "c", "chat": {"enabled": false,
            "message_review_handler": {"lambda_arn": "arn:aws:lambda:eu-west-1:123456789012:function:r"}}}))
        .validate(Utc::now(), None)
        .unwrap();
        assert!(handler.chat_room().is_none());
        let h = handler.chat.unwrap().message_review_handler.unwrap();
        assert_eq!(h.fallback_result, FallbackResult::Allow);
    }

    #[test]
    fn every_bad_chat_field_is_reported_at_once() {
        let result = request(json!({"tenant": "t", "name": "c", "chat": {
            "maximum_message_rate_per_second": 101, "maximum_message_length": 0,
            "message_review_handler": {"lambda_arn": "review-chat", "fallback_result": "MAYBE"},
            "log_to_s3_bucket": "Not_A_Bucket"
        }}))
        .validate(Utc::now(), None);
        let mut got = fields(result);
        got.sort();
        assert_eq!(
            got,
            vec![
                "/chat/log_to_s3_bucket",
                "/chat/maximum_message_length",
                "/chat/maximum_message_rate_per_second",
                "/chat/message_review_handler/fallback_result",
                "/chat/message_review_handler/lambda_arn",
            ]
        );
        let missing =
            request(json!({"tenant": "t", "name": "c", "chat": {"message_review_handler": {}}}));
        assert_eq!(
            fields(missing.validate(Utc::now(), None)),
            vec!["/chat/message_review_handler/lambda_arn"]
        );
        for (rate, length) in [(1, 1), (100, 500)] {
            let edge = request(json!({"tenant": "t", "name": "c", "chat": {
                "maximum_message_rate_per_second": rate, "maximum_message_length": length}}));
            assert!(edge.validate(Utc::now(), None).is_ok());
        }
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
            "chat": {"maximum_message_length": 200, "log_to_s3_bucket": "b-1",
                     "message_review_handler": {"lambda_arn": "arn:aws:lambda:eu-west-1:123456789012:function:r", "fallback_result": "DENY"}},
            "tags": {"Team": "live"}, "delete_after": "2999-01-01T00:00:00Z",
            "live_window": {"opens_at": "2998-12-31T09:00:00Z", "closes_at": "2998-12-31T11:00:00+01:00"}
        }))
        .validate(Utc::now(), None)
        .unwrap();
        let again = request(spec.to_request_json())
            .validate(Utc::now(), Some(&spec))
            .unwrap();
        assert_eq!(spec, again);
    }

    fn window(opens: &str, closes: &str, grace: Option<i64>) -> ChannelRequest {
        request(json!({"tenant": "t", "name": "c", "live_window":
            {"opens_at": opens, "closes_at": closes, "grace_seconds": grace}}))
    }

    #[test]
    fn a_live_window_gets_the_default_grace_and_opens_and_closes_on_time() {
        let spec = window("2999-01-01T09:00:00Z", "2999-01-01T10:00:00Z", None)
            .validate(Utc::now(), None)
            .unwrap();
        let w = spec.live_window.unwrap();
        assert_eq!(w.grace_seconds, DEFAULT_LIVE_WINDOW_GRACE_SECS);
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!w.is_open_at(at("2999-01-01T08:59:59Z")));
        assert!(w.is_open_at(at("2999-01-01T09:00:00Z")));
        assert!(w.is_open_at(at("2999-01-01T10:04:59Z")));
        assert!(!w.is_open_at(at("2999-01-01T10:05:00Z")));
        assert_eq!(
            w.next_edge_after(at("2999-01-01T08:00:00Z")),
            Some(at("2999-01-01T09:00:00Z"))
        );
        assert_eq!(
            w.next_edge_after(at("2999-01-01T09:30:00Z")),
            Some(at("2999-01-01T10:05:00Z"))
        );
        assert_eq!(w.next_edge_after(at("2999-01-01T10:05:00Z")), None);
    }

    #[test]
    fn a_bad_live_window_names_each_bad_field() {
        let now = Utc::now();
        let cases = [
            (
                window("2999-01-01T10:00:00Z", "2999-01-01T09:00:00Z", None),
                vec!["/live_window/closes_at"],
            ),
            (
                window("2999-01-01T09:00:00Z", "2999-01-02T09:00:01Z", None),
                vec!["/live_window/closes_at"],
            ),
            (
                window("2020-01-01T09:00:00Z", "2020-01-01T10:00:00Z", None),
                vec!["/live_window/closes_at"],
            ),
            (
                window("soon", "later", Some(3601)),
                vec![
                    "/live_window/opens_at",
                    "/live_window/closes_at",
                    "/live_window/grace_seconds",
                ],
            ),
            (
                request(json!({"tenant": "t", "name": "c", "live_window": {"grace_seconds": -1}})),
                vec![
                    "/live_window/opens_at",
                    "/live_window/closes_at",
                    "/live_window/grace_seconds",
                ],
            ),
        ];
        for (bad, expected) in cases {
            assert_eq!(fields(bad.validate(now, None)), expected);
        }
        let full_day = window("2999-01-01T09:00:00Z", "2999-01-02T09:00:00Z", Some(3600));
        assert!(full_day.validate(now, None).is_ok());
    }

    #[test]
    fn a_stored_window_that_has_closed_is_not_refused_again() {
        let stored = window("2999-01-01T09:00:00Z", "2999-01-01T10:00:00Z", Some(0))
            .validate(Utc::now(), None)
            .unwrap();
        let after = "2999-01-01T11:00:00Z".parse().unwrap();
        let unchanged = request(stored.to_request_json());
        assert!(unchanged.validate(after, Some(&stored)).is_ok());
        assert_eq!(
            fields(request(stored.to_request_json()).validate(after, None)),
            vec!["/live_window/closes_at"]
        );
    }
}
