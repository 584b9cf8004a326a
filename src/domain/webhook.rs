//! Webhooks as the domain knows them: the event types a booking system can subscribe to (and
//! which audit event kinds cause them), the payload, Standard Webhooks signatures and secrets,
//! the retry schedule, and the rules for endpoint URLs and the addresses they may reach.
//! Pure functions: sending is the delivery engine's business (`webhooks`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ChannelOutputs, EventKind, Phase};

/// What a webhook tells: the `type` of its payload, and what an endpoint subscribes to.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
pub enum WebhookEventType {
    /// The channel exists in IVS as declared, its outputs published.
    #[serde(rename = "channel.ready")]
    #[strum(serialize = "channel.ready")]
    ChannelReady,
    /// The channel's spec was changed (a PATCH); `channel.ready` follows once IVS matches.
    #[serde(rename = "channel.updated")]
    #[strum(serialize = "channel.updated")]
    ChannelUpdated,
    /// Provisioning failed permanently (quota, validation, access); `last_error` says why.
    #[serde(rename = "channel.failed")]
    #[strum(serialize = "channel.failed")]
    ChannelFailed,
    /// The channel is gone from IVS and SSM.
    #[serde(rename = "channel.deleted")]
    #[strum(serialize = "channel.deleted")]
    ChannelDeleted,
    /// The drift sweep found the channel changed or deleted outside the service.
    #[serde(rename = "channel.drift_detected")]
    #[strum(serialize = "channel.drift_detected")]
    ChannelDriftDetected,
    /// The stream key was replaced (read the new one from SSM or the API).
    #[serde(rename = "stream_key.rotated")]
    #[strum(serialize = "stream_key.rotated")]
    StreamKeyRotated,
    /// A broadcast started (IVS Stream Start, or the sweep found it); `data.stream_id`, `data.started_at`.
    #[serde(rename = "stream.started")]
    #[strum(serialize = "stream.started")]
    StreamStarted,
    /// A broadcast ended; `data.stream_id`, `data.ended_at`.
    #[serde(rename = "stream.ended")]
    #[strum(serialize = "stream.ended")]
    StreamEnded,
    /// Declared for the broadcast lifecycle; not emitted yet.
    #[serde(rename = "stream.health_changed")]
    #[strum(serialize = "stream.health_changed")]
    StreamHealthChanged,
    /// A recording is complete; `data.bucket`, `data.prefix`, `data.master_playlist_key`, `data.duration_ms`.
    #[serde(rename = "recording.ready")]
    #[strum(serialize = "recording.ready")]
    RecordingReady,
    /// A recording failed; `data.reason` is IVS's.
    #[serde(rename = "recording.failed")]
    #[strum(serialize = "recording.failed")]
    RecordingFailed,
    /// Declared for the broadcast lifecycle; not emitted yet.
    #[serde(rename = "ingest.opened")]
    #[strum(serialize = "ingest.opened")]
    IngestOpened,
    /// Declared for the broadcast lifecycle; not emitted yet.
    #[serde(rename = "ingest.closed")]
    #[strum(serialize = "ingest.closed")]
    IngestClosed,
    /// `POST /v1/webhook-endpoints/{id}/test`: sent to that endpoint whatever it subscribes to.
    #[serde(rename = "webhook.test")]
    #[strum(serialize = "webhook.test")]
    WebhookTest,
}

impl WebhookEventType {
    pub const ALL: &[WebhookEventType] = <Self as strum::VariantArray>::VARIANTS;

    /// The types something emits today; the others wait for the broadcast lifecycle.
    pub const EMITTED: &[WebhookEventType] = &[
        Self::ChannelReady,
        Self::ChannelUpdated,
        Self::ChannelFailed,
        Self::ChannelDeleted,
        Self::ChannelDriftDetected,
        Self::StreamKeyRotated,
        Self::StreamStarted,
        Self::StreamEnded,
        Self::RecordingReady,
        Self::RecordingFailed,
        Self::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// The webhook an audit event causes, if any. The event and the webhook are written in the
    /// same transaction as the state change (the outbox), so this mapping is the one place
    /// that decides what a booking system hears.
    pub fn for_event_kind(kind: EventKind) -> Option<Self> {
        match kind {
            EventKind::Ready => Some(Self::ChannelReady),
            EventKind::Updated => Some(Self::ChannelUpdated),
            EventKind::Failed => Some(Self::ChannelFailed),
            EventKind::Deleted => Some(Self::ChannelDeleted),
            EventKind::DriftDetected => Some(Self::ChannelDriftDetected),
            EventKind::StreamKeyRotated => Some(Self::StreamKeyRotated),
            EventKind::StreamStarted => Some(Self::StreamStarted),
            EventKind::StreamEnded => Some(Self::StreamEnded),
            EventKind::RecordingReady => Some(Self::RecordingReady),
            EventKind::RecordingFailed => Some(Self::RecordingFailed),
            _ => None,
        }
    }

    /// An example payload, for the OpenAPI document.
    pub fn example(self) -> Value {
        let at = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default();
        let outputs = ChannelOutputs {
            channel_arn: Some("arn:aws:ivs:eu-west-1:123456789012:channel/abcd1234".into()),
            channel_id: Some("arn:aws:ivs:eu-west-1:123456789012:channel/abcd1234".into()),
            channel_name: Some("acme-yoga-101".into()),
            ingest_endpoint: Some("abcd.global-contribute.live-video.net".into()),
            playback_url: Some(
                "https://abcd.eu-west-1.playback.live-video.net/api/video/v1/x.m3u8".into(),
            ),
            recording_configuration_arn: None,
            playback_key_pair_fingerprint: None,
            chat_room_arn: None,
            chat_room_id: None,
        };
        let phase = match self {
            Self::ChannelFailed => Phase::Failed,
            Self::ChannelDeleted => Phase::Deleted,
            Self::ChannelUpdated | Self::ChannelDriftDetected => Phase::Updating,
            _ => Phase::Ready,
        };
        let channel = ChannelData {
            id: Uuid::nil(),
            tenant: "acme".into(),
            name: "yoga-101".into(),
            phase,
            generation: 1,
            outputs,
        };
        match self {
            Self::WebhookTest => payload(self, at, json!({"endpoint_id": Uuid::nil()})),
            _ => payload(self, at, channel.data(json!({}))),
        }
    }
}

/// What every channel event's `data` carries: never a stream key, private key or API key.
#[derive(Debug, Clone, Serialize)]
pub struct ChannelData {
    pub id: Uuid,
    pub tenant: String,
    pub name: String,
    pub phase: Phase,
    pub generation: i64,
    pub outputs: ChannelOutputs,
}

impl ChannelData {
    /// The channel's facts with the event's own details (`last_error`, drift kind…) beside them.
    pub fn data(&self, details: Value) -> Value {
        let mut data = json!({
            "channel_id": self.id,
            "tenant": self.tenant,
            "name": self.name,
            "phase": self.phase,
            "generation": self.generation,
            "outputs": self.outputs,
        });
        if let (Some(data), Value::Object(details)) = (data.as_object_mut(), details) {
            for (key, value) in details {
                data.entry(key).or_insert(value);
            }
        }
        data
    }
}

/// The body of every webhook: `{type, timestamp, data}`.
pub fn payload(kind: WebhookEventType, at: DateTime<Utc>, data: Value) -> Value {
    json!({
        "type": kind,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
}

/// The `webhook-id` of a new event: sortable by creation, the same on every attempt.
pub fn new_event_id() -> String {
    format!("msg_{}", Uuid::now_v7().simple())
}

/// Standard Webhooks secrets: `whsec_` and the base64 of 32 random bytes.
pub const SECRET_PREFIX: &str = "whsec_";

pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's key bytes; `None` for a
/// secret that is not `whsec_<base64>` (never stored by the service).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one signature per secret, space-separated (during a
/// rotation the receiver may hold either secret).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .filter_map(|secret| sign(secret, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Svix's schedule: after the first attempt (immediately), wait 5 s, 5 min, 30 min, 2 h, 5 h,
/// 10 h, 10 h: about a day and eight attempts in all.
pub const DEFAULT_SCHEDULE_SECS: &[f64] =
    &[0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

/// How long to wait before the next attempt after `attempts_done` attempts, or `None` when the
/// schedule is spent (the delivery is `failed`). `unit` in [0, 1) draws the jitter: ±20%, so
/// that a receiver coming back is not hit by every retry at the same instant.
pub fn retry_delay(schedule: &[Duration], attempts_done: u32, unit: f64) -> Option<Duration> {
    let base = schedule.get(attempts_done as usize)?;
    Some(base.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0)))
}

/// Which endpoint URLs this process accepts and may send to. The default is the strict one:
/// https only, public addresses only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `WEBHOOK_ALLOW_INSECURE`: plain http too.
    pub allow_insecure: bool,
    /// `WEBHOOK_ALLOW_PRIVATE`: loopback, private and link-local addresses too.
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Everything allowed: dev mode and tests with a local receiver.
    pub const PERMISSIVE: UrlPolicy = UrlPolicy {
        allow_insecure: true,
        allow_private: true,
    };

    pub fn check(&self, url: &str) -> Result<url::Url, String> {
        check_url(url, self.allow_insecure, self.allow_private)
    }
}

/// The longest URL an endpoint may have.
pub const MAX_URL_CHARS: usize = 2048;

/// Checks an endpoint URL: http(s) only (http only when `allow_insecure`), no credentials, at
/// most 2,048 characters, a host; a literal IP address must be one `address_refusal` allows.
/// Host names are resolved (and checked again) at send time.
pub fn check_url(url: &str, allow_insecure: bool, allow_private: bool) -> Result<url::Url, String> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(format!("url must be at most {MAX_URL_CHARS} characters"));
    }
    let parsed = url::Url::parse(url).map_err(|e| format!("url is not a valid URL: {e}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        "http" => {
            return Err(
                "url must use https (http is allowed only with WEBHOOK_ALLOW_INSECURE=true)".into(),
            );
        }
        other => return Err(format!("url must use https, not {other}")),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("url must not contain credentials; the payload is signed instead".into());
    }
    let ip = match parsed.host() {
        None => return Err("url must name a host".into()),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    if let Some(reason) = ip.filter(|_| !allow_private).and_then(address_refusal) {
        return Err(format!(
            "url points at {reason}; webhooks may only reach public addresses (WEBHOOK_ALLOW_PRIVATE=true lifts this)"
        ));
    }
    Ok(parsed)
}

/// Why a webhook may not be sent to `ip` (SSRF): loopback, private, link-local (cloud metadata
/// included), multicast, unspecified and similar non-public ranges, IPv4-mapped IPv6 included.
pub fn address_refusal(ip: IpAddr) -> Option<String> {
    let v4 = |ip: Ipv4Addr| -> Option<&'static str> {
        let [a, b, ..] = ip.octets();
        if ip.is_loopback() {
            Some("a loopback address")
        } else if ip.is_private() {
            Some("a private address")
        } else if ip.is_link_local() {
            Some("a link-local address (cloud metadata lives there)")
        } else if ip.is_multicast() || ip.is_broadcast() {
            Some("a multicast or broadcast address")
        } else if ip.is_unspecified() || a == 0 {
            Some("an unspecified address")
        } else if a == 100 && (64..128).contains(&b) {
            Some("a carrier-grade NAT address")
        } else {
            None
        }
    };
    let v6 = |ip: Ipv6Addr| -> Option<&'static str> {
        let first = ip.segments()[0];
        if ip.is_loopback() {
            Some("a loopback address")
        } else if ip.is_unspecified() {
            Some("an unspecified address")
        } else if first & 0xfe00 == 0xfc00 {
            Some("a unique-local (private) address")
        } else if first & 0xffc0 == 0xfe80 {
            Some("a link-local address")
        } else if ip.is_multicast() {
            Some("a multicast address")
        } else {
            None
        }
    };
    let reason = match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(mapped) => v4(mapped),
            None => v6(ip),
        },
    }?;
    Some(format!("{reason} ({ip})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip_and_every_emitted_kind_is_mapped() {
        for kind in WebhookEventType::ALL {
            assert_eq!(kind.as_str().parse::<WebhookEventType>(), Ok(*kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        for kind in <EventKind as strum::VariantArray>::VARIANTS {
            if let Some(hook) = WebhookEventType::for_event_kind(*kind) {
                assert!(WebhookEventType::EMITTED.contains(&hook), "{hook:?}");
            }
        }
        assert_eq!(
            WebhookEventType::for_event_kind(EventKind::Ready),
            Some(WebhookEventType::ChannelReady)
        );
        assert_eq!(WebhookEventType::for_event_kind(EventKind::Adopted), None);
    }

    /// The example of the Standard Webhooks specification's reference implementations.
    #[test]
    fn signature_matches_the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1614265330, body).unwrap(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let both = signature_header(&[secret, secret], id, 1614265330, body);
        assert_eq!(both.split(' ').count(), 2);
    }

    #[test]
    fn secrets_are_random_and_well_formed() {
        let a = generate_secret();
        assert!(a.starts_with(SECRET_PREFIX) && a != generate_secret());
        let key = STANDARD.decode(&a[SECRET_PREFIX.len()..]).unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn schedule_has_jitter_and_ends() {
        let schedule: Vec<Duration> = DEFAULT_SCHEDULE_SECS
            .iter()
            .map(|s| Duration::from_secs_f64(*s))
            .collect();
        assert_eq!(retry_delay(&schedule, 0, 0.5), Some(Duration::ZERO));
        let low = retry_delay(&schedule, 1, 0.0).unwrap();
        let high = retry_delay(&schedule, 1, 0.999).unwrap();
        assert!(low >= Duration::from_secs(4) && high <= Duration::from_secs(6) && low < high);
        assert!(retry_delay(&schedule, 7, 0.5).is_some());
        assert_eq!(retry_delay(&schedule, 8, 0.5), None);
        let total: f64 = DEFAULT_SCHEDULE_SECS.iter().sum();
        assert!(
            (86_000.0..=100_000.0).contains(&total),
            "about a day: {total}"
        );
    }

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/ivs", false, false).is_ok());
        assert!(check_url("http://hooks.example.com/ivs", false, false).is_err());
        assert!(check_url("http://hooks.example.com/ivs", true, false).is_ok());
        assert!(check_url("ftp://hooks.example.com/", true, true).is_err());
        assert!(check_url("https://user:pw@hooks.example.com/", false, false).is_err());
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(check_url(&long, false, false).is_err());
        for refused in [
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://0.0.0.0/",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
        ] {
            assert!(check_url(refused, false, false).is_err(), "{refused}");
            assert!(check_url(refused, false, true).is_ok(), "{refused}");
        }
        assert!(check_url("https://8.8.8.8/", false, false).is_ok());
    }

    #[test]
    fn payload_carries_channel_facts_and_no_secrets() {
        let example = WebhookEventType::ChannelReady.example();
        assert_eq!(example["type"], "channel.ready");
        assert_eq!(example["data"]["tenant"], "acme");
        assert_eq!(example["data"]["phase"], "ready");
        let text = example.to_string();
        assert!(!text.contains("stream_key") && !text.contains("sk_"));
    }
}
