//! IVS's EventBridge events as typed values: the envelope (`id`, `time`, the channel ARN in
//! `resources`), the detail type and the event's name or recording status as enums, and the fact
//! each event states about a stream session or a recording (docs/aws-facts.md §7, §13). Parsing
//! is lenient where AWS's own examples disagree (an empty `channel_name`, a missing
//! `recording_session_stream_ids`) and strict where the service relies on a field (`id`, `time`,
//! `stream_id`). Pure: no I/O.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::broadcast::{
    HealthChange, RecordingFact, RecordingStatus, SessionFact, StreamError, StreamHealth,
    master_playlist_key, recording_id_of_prefix,
};

/// The `detail-type`s of IVS low-latency channel events, as EventBridge spells them.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
pub enum DetailType {
    #[strum(serialize = "IVS Stream State Change")]
    StreamStateChange,
    #[strum(serialize = "IVS Stream Health Change")]
    StreamHealthChange,
    #[strum(serialize = "IVS Recording State Change")]
    RecordingStateChange,
    #[strum(serialize = "IVS Limit Breach")]
    LimitBreach,
}

impl DetailType {
    pub const ALL: &[DetailType] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// A short label for metrics (`stream_state`, `stream_health`, `recording_state`,
    /// `limit_breach`).
    pub fn label(self) -> &'static str {
        match self {
            DetailType::StreamStateChange => "stream_state",
            DetailType::StreamHealthChange => "stream_health",
            DetailType::RecordingStateChange => "recording_state",
            DetailType::LimitBreach => "limit_breach",
        }
    }
}

/// `detail.event_name` of an `IVS Stream State Change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum StreamEventName {
    #[strum(serialize = "Session Created")]
    SessionCreated,
    #[strum(serialize = "Session Ended")]
    SessionEnded,
    #[strum(serialize = "Stream Start")]
    StreamStart,
    #[strum(serialize = "Stream End")]
    StreamEnd,
    #[strum(serialize = "Stream Failure")]
    StreamFailure,
    #[strum(serialize = "Stream Takeover")]
    StreamTakeover,
    #[strum(serialize = "Stream Takeover Failure")]
    StreamTakeoverFailure,
}

/// `detail.event_name` of an `IVS Stream Health Change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum HealthEventName {
    #[strum(serialize = "Starvation Start")]
    StarvationStart,
    #[strum(serialize = "Starvation End")]
    StarvationEnd,
}

/// `detail.recording_status` of an `IVS Recording State Change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
pub enum RecordingEventStatus {
    #[strum(serialize = "Recording Start")]
    RecordingStart,
    #[strum(serialize = "Recording End")]
    RecordingEnd,
    #[strum(serialize = "Recording Start Failure")]
    RecordingStartFailure,
    #[strum(serialize = "Recording End Failure")]
    RecordingEndFailure,
}

/// What one event says, by detail type.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    Stream {
        name: StreamEventName,
        stream_id: String,
        /// IVS's code (Session Ended, Stream Takeover Failure).
        code: Option<String>,
        /// IVS's text (Stream Failure).
        reason: Option<String>,
    },
    Health {
        name: HealthEventName,
        stream_id: String,
    },
    Recording(RecordingDetail),
    LimitBreach {
        limit_name: String,
        limit_value: Option<f64>,
        exceeded_by: Option<f64>,
        limit_unit: Option<String>,
        /// Absent for account-wide limits (Concurrent Broadcasts, Concurrent Viewers).
        stream_id: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RecordingDetail {
    pub status: RecordingEventStatus,
    pub reason: Option<String>,
    pub stream_id: Option<String>,
    pub bucket: Option<String>,
    /// `ivs/v1/<account>/<channel id>/<y>/<m>/<d>/<h>/<min>/<recording id>`; empty on a start
    /// failure.
    pub prefix: Option<String>,
    pub duration_ms: Option<i64>,
    pub session_id: Option<String>,
    pub stream_ids: Vec<String>,
}

/// One IVS event from EventBridge.
#[derive(Debug, Clone, PartialEq)]
pub struct IvsEvent {
    /// The EventBridge event id: the same on every delivery of one event, the dedupe key.
    pub id: String,
    pub detail_type: DetailType,
    pub time: DateTime<Utc>,
    /// `resources[0]`: the channel the event is about (none for account-wide limit breaches).
    pub channel_arn: Option<String>,
    pub detail: Detail,
}

/// Why a message is not an event the service applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not an IVS event at all, or one missing a field the service needs: set aside.
    #[error("malformed: {0}")]
    Malformed(String),
    /// A well-formed `aws.ivs` event of a kind the service does not track (real-time stages, a
    /// new event name): dropped and counted.
    #[error("not tracked: {0}")]
    Unsupported(String),
}

/// The envelope as EventBridge sends it (the whole event is the SQS message body).
#[derive(Deserialize)]
struct Envelope {
    id: Option<String>,
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    time: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    detail: Option<Value>,
}

fn malformed(message: impl Into<String>) -> ParseError {
    ParseError::Malformed(message.into())
}

/// Parses an SQS message body holding one EventBridge event.
pub fn parse(body: &str) -> Result<IvsEvent, ParseError> {
    let envelope: Envelope = serde_json::from_str(body)
        .map_err(|e| malformed(format!("not an EventBridge event: {e}")))?;
    let id = envelope
        .id
        .filter(|id| !id.is_empty() && id.len() <= 128 && !id.chars().any(char::is_control))
        .ok_or_else(|| malformed("no event id"))?;
    if envelope.source.as_deref() != Some("aws.ivs") {
        return Err(malformed(format!(
            "source is {:?}, not aws.ivs",
            envelope.source.unwrap_or_default()
        )));
    }
    let detail_type = envelope
        .detail_type
        .ok_or_else(|| malformed("no detail-type"))?;
    let time = envelope
        .time
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| malformed("no valid time"))?;
    let detail_type: DetailType = detail_type
        .parse()
        .map_err(|_| ParseError::Unsupported(format!("detail-type {detail_type:?}")))?;
    let detail = envelope
        .detail
        .filter(Value::is_object)
        .ok_or_else(|| malformed("no detail object"))?;
    let detail = parse_detail(detail_type, &detail)?;
    Ok(IvsEvent {
        id,
        detail_type,
        time,
        channel_arn: envelope
            .resources
            .into_iter()
            .next()
            .filter(|r| !r.is_empty()),
        detail,
    })
}

fn text(detail: &Value, field: &str) -> Option<String> {
    detail[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn stream_id(detail: &Value) -> Result<String, ParseError> {
    text(detail, "stream_id").ok_or_else(|| malformed("no detail.stream_id"))
}

fn named<T: std::str::FromStr>(detail: &Value, field: &str) -> Result<T, ParseError> {
    let name = detail[field]
        .as_str()
        .ok_or_else(|| malformed(format!("no detail.{field}")))?;
    name.parse()
        .map_err(|_| ParseError::Unsupported(format!("{field} {name:?}")))
}

fn parse_detail(kind: DetailType, detail: &Value) -> Result<Detail, ParseError> {
    Ok(match kind {
        DetailType::StreamStateChange => Detail::Stream {
            name: named(detail, "event_name")?,
            stream_id: stream_id(detail)?,
            code: text(detail, "code"),
            reason: text(detail, "reason"),
        },
        DetailType::StreamHealthChange => Detail::Health {
            name: named(detail, "event_name")?,
            stream_id: stream_id(detail)?,
        },
        DetailType::RecordingStateChange => Detail::Recording(RecordingDetail {
            status: named(detail, "recording_status")?,
            reason: text(detail, "recording_status_reason"),
            stream_id: text(detail, "stream_id"),
            bucket: text(detail, "recording_s3_bucket_name"),
            prefix: text(detail, "recording_s3_key_prefix").map(|p| p.trim_matches('/').to_owned()),
            duration_ms: detail["recording_duration_ms"].as_i64(),
            session_id: text(detail, "recording_session_id"),
            stream_ids: detail["recording_session_stream_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect(),
        }),
        DetailType::LimitBreach => Detail::LimitBreach {
            limit_name: text(detail, "limit_name")
                .ok_or_else(|| malformed("no detail.limit_name"))?,
            limit_value: detail["limit_value"].as_f64(),
            exceeded_by: detail["exceeded_by"].as_f64(),
            limit_unit: text(detail, "limit_unit"),
            stream_id: text(detail, "stream_id"),
        },
    })
}

/// What an event changes in the service's facts.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Session(SessionFact),
    Recording(RecordingFact),
    /// Stored as processed, changes no fact (Session Created, Stream Takeover, an account-wide
    /// limit breach).
    Nothing,
}

impl IvsEvent {
    /// The fact this event states.
    pub fn effect(&self) -> Effect {
        let at = self.time;
        match &self.detail {
            Detail::Stream {
                name,
                stream_id,
                code,
                reason,
            } => stream_effect(at, *name, stream_id, code, reason),
            Detail::Health { name, stream_id } => {
                let state = match name {
                    HealthEventName::StarvationStart => StreamHealth::Starving,
                    HealthEventName::StarvationEnd => StreamHealth::Healthy,
                };
                Effect::Session(SessionFact {
                    health: vec![HealthChange { at, state }],
                    ..SessionFact::new(stream_id)
                })
            }
            Detail::LimitBreach {
                limit_name,
                limit_value,
                exceeded_by,
                limit_unit,
                stream_id: Some(stream_id),
            } => {
                let unit = limit_unit.as_deref().unwrap_or_default();
                let message = format!(
                    "limit {} {unit} exceeded by {} {unit}",
                    limit_value.unwrap_or_default(),
                    exceeded_by.unwrap_or_default()
                );
                Effect::Session(SessionFact {
                    errors: vec![StreamError {
                        at,
                        event: "Limit Breach".into(),
                        code: Some(limit_name.clone()),
                        message: Some(message),
                    }],
                    ..SessionFact::new(stream_id)
                })
            }
            Detail::LimitBreach {
                stream_id: None, ..
            } => Effect::Nothing,
            Detail::Recording(detail) => recording_effect(at, detail),
        }
    }
}

fn stream_effect(
    at: DateTime<Utc>,
    name: StreamEventName,
    stream_id: &str,
    code: &Option<String>,
    reason: &Option<String>,
) -> Effect {
    let fact = SessionFact::new(stream_id);
    let error = || StreamError {
        at,
        event: <&str>::from(name).to_owned(),
        code: code.clone(),
        message: reason.clone(),
    };
    Effect::Session(match name {
        StreamEventName::StreamStart => SessionFact {
            started_at: Some(at),
            ..fact
        },
        StreamEventName::StreamEnd => SessionFact {
            ended_at: Some(at),
            ..fact
        },
        StreamEventName::StreamFailure | StreamEventName::StreamTakeoverFailure => SessionFact {
            errors: vec![error()],
            ..fact
        },
        // An encoder disconnecting normally says nothing; with a code it says why it was cut.
        StreamEventName::SessionEnded if code.is_some() || reason.is_some() => SessionFact {
            errors: vec![error()],
            ..fact
        },
        StreamEventName::SessionEnded
        | StreamEventName::SessionCreated
        | StreamEventName::StreamTakeover => return Effect::Nothing,
    })
}

fn recording_effect(at: DateTime<Utc>, d: &RecordingDetail) -> Effect {
    let Some(recording_id) = d
        .prefix
        .as_deref()
        .and_then(recording_id_of_prefix)
        .or_else(|| d.session_id.clone())
        .or_else(|| d.stream_id.clone())
    else {
        return Effect::Nothing;
    };
    let (status, started_at, ended_at) = match d.status {
        RecordingEventStatus::RecordingStart => (RecordingStatus::Recording, Some(at), None),
        RecordingEventStatus::RecordingEnd => (RecordingStatus::Ready, None, Some(at)),
        RecordingEventStatus::RecordingStartFailure => (RecordingStatus::Failed, Some(at), None),
        RecordingEventStatus::RecordingEndFailure => (RecordingStatus::Failed, None, Some(at)),
    };
    let mut stream_ids = d.stream_ids.clone();
    if let Some(id) = d.stream_id.clone().filter(|id| !stream_ids.contains(id)) {
        stream_ids.push(id);
    }
    // A start's duration is 0 and says nothing; a failure before recording has none either.
    let duration_ms = d
        .duration_ms
        .filter(|ms| *ms > 0 || status == RecordingStatus::Ready);
    Effect::Recording(RecordingFact {
        recording_id,
        status,
        reason: d
            .reason
            .clone()
            .filter(|_| status == RecordingStatus::Failed),
        started_at,
        ended_at,
        duration_ms,
        bucket: d.bucket.clone(),
        master_playlist_key: d.prefix.as_deref().map(master_playlist_key),
        prefix: d.prefix.clone(),
        byte_range_playlist_key: None,
        renditions: None,
        thumbnails_prefix: None,
        stream_ids,
        recording_session_id: d.session_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(detail_type: &str, detail: Value) -> String {
        json!({
            "version": "0", "id": "12345678-1a23-4567-a1bc-1a2b34567890",
            "detail-type": detail_type, "source": "aws.ivs", "account": "123456789012",
            "time": "2020-06-24T07:51:32Z", "region": "us-west-2",
            "resources": ["arn:aws:ivs:us-west-2:123456789012:channel/AbCdef1G2hij"],
            "detail": detail
        })
        .to_string()
    }

    #[test]
    fn aws_recording_end_example_parses_into_a_ready_recording() {
        // docs/aws-facts.md §13b, verbatim.
        let body = event(
            "IVS Recording State Change",
            json!({"channel_name":"Your Channel","stream_id":"st-1A2b3c4D5e6F78ghij9Klmn",
              "recording_status":"Recording End","recording_status_reason":"",
              "recording_s3_bucket_name":"r2s3-dev-channel-1-recordings",
              "recording_s3_key_prefix":"ivs/v1/123456789012/AbCdef1G2hij/2020/6/23/20/12/j8Z9O91ndcVs",
              "recording_duration_ms":99370264,"recording_session_id":"a6RfV23ES97iyfoQ",
              "recording_session_stream_ids":["st-254sopYUvi6F78ghpO9vn0A","st-1A2b3c4D5e6F78ghij9Klmn"]}),
        );
        let parsed = parse(&body).unwrap();
        assert_eq!(parsed.detail_type, DetailType::RecordingStateChange);
        assert_eq!(
            parsed.channel_arn.as_deref(),
            Some("arn:aws:ivs:us-west-2:123456789012:channel/AbCdef1G2hij")
        );
        let Effect::Recording(fact) = parsed.effect() else {
            panic!("not a recording fact");
        };
        assert_eq!(fact.recording_id, "j8Z9O91ndcVs");
        assert_eq!(fact.status, RecordingStatus::Ready);
        assert_eq!(fact.duration_ms, Some(99_370_264));
        assert_eq!(fact.reason, None);
        assert_eq!(
            fact.master_playlist_key.as_deref(),
            Some(
                "ivs/v1/123456789012/AbCdef1G2hij/2020/6/23/20/12/j8Z9O91ndcVs/media/hls/master.m3u8"
            )
        );
        assert_eq!(fact.stream_ids.len(), 2);
        assert_eq!(fact.ended_at, Some(parsed.time));
    }

    #[test]
    fn stream_start_and_end_state_the_session_times() {
        let start = parse(&event(
            "IVS Stream State Change",
            json!({"event_name":"Stream Start","channel_name":"","stream_id":"st-1"}),
        ))
        .unwrap();
        let Effect::Session(fact) = start.effect() else {
            panic!()
        };
        assert_eq!((fact.started_at, fact.ended_at), (Some(start.time), None));
        let end = parse(&event(
            "IVS Stream State Change",
            json!({"event_name":"Stream End","stream_id":"st-1"}),
        ))
        .unwrap();
        let Effect::Session(fact) = end.effect() else {
            panic!()
        };
        assert_eq!((fact.started_at, fact.ended_at), (None, Some(end.time)));
    }

    #[test]
    fn health_failures_and_limit_breaches_are_session_facts() {
        let starving = parse(&event(
            "IVS Stream Health Change",
            json!({"event_name":"Starvation Start","stream_id":"st-1"}),
        ))
        .unwrap();
        let Effect::Session(fact) = starving.effect() else {
            panic!()
        };
        assert_eq!(fact.health[0].state, StreamHealth::Starving);
        let failure = parse(&event(
            "IVS Stream State Change",
            json!({"event_name":"Stream Takeover Failure","stream_id":"st-1","code":"StreamTakeoverInvalidPriority"}),
        ))
        .unwrap();
        let Effect::Session(fact) = failure.effect() else {
            panic!()
        };
        assert_eq!(
            fact.errors[0].code.as_deref(),
            Some("StreamTakeoverInvalidPriority")
        );
        let breach = parse(&event(
            "IVS Limit Breach",
            json!({"limit_name":"Ingest Bitrate","limit_value":1234,"exceeded_by":3,"limit_unit":"bits per second","stream_id":"st-1"}),
        ))
        .unwrap();
        assert!(
            matches!(breach.effect(), Effect::Session(f) if f.errors[0].code.as_deref() == Some("Ingest Bitrate"))
        );
        let account = parse(&event(
            "IVS Limit Breach",
            json!({"limit_name":"Concurrent Broadcasts","limit_value":2,"exceeded_by":3,"limit_unit":"active streams"}),
        ))
        .unwrap();
        assert_eq!(account.effect(), Effect::Nothing);
    }

    #[test]
    fn a_start_failure_without_prefix_is_a_failed_recording_with_the_reason() {
        let failed = parse(&event(
            "IVS Recording State Change",
            json!({"stream_id":"st-9","recording_status":"Recording Start Failure",
                   "recording_status_reason":"ValidationException","recording_s3_key_prefix":"",
                   "recording_s3_bucket_name":"b","recording_duration_ms":0,"recording_session_id":"sess-1"}),
        ))
        .unwrap();
        let Effect::Recording(fact) = failed.effect() else {
            panic!()
        };
        assert_eq!(fact.status, RecordingStatus::Failed);
        assert_eq!(fact.reason.as_deref(), Some("ValidationException"));
        assert_eq!(fact.recording_id, "sess-1");
        assert_eq!((fact.prefix, fact.duration_ms), (None, None));
    }

    #[test]
    fn bad_messages_are_malformed_and_other_ivs_kinds_unsupported() {
        for body in [
            "not json".to_owned(),
            json!({"id": "x", "source": "aws.s3", "detail-type": "Object Created", "time": "2020-06-24T07:51:32Z", "detail": {}}).to_string(),
            json!({"source": "aws.ivs", "detail-type": "IVS Stream State Change", "time": "2020-06-24T07:51:32Z", "detail": {}}).to_string(),
            event("IVS Stream State Change", json!({"event_name": "Stream Start"})),
            event("IVS Stream State Change", json!("a string")),
            json!({"id": "x", "source": "aws.ivs", "detail-type": "IVS Stream State Change", "time": "yesterday", "detail": {}}).to_string(),
        ] {
            assert!(
                matches!(parse(&body), Err(ParseError::Malformed(_))),
                "{body}: {:?}",
                parse(&body)
            );
        }
        assert!(matches!(
            parse(&event("IVS Participant State Change", json!({}))),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            parse(&event(
                "IVS Stream State Change",
                json!({"event_name": "Stream Wobble", "stream_id": "st-1"})
            )),
            Err(ParseError::Unsupported(_))
        ));
    }
}
