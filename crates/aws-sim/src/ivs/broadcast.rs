//! The broadcast lifecycle behind the admin hooks and StopStream: a broadcast starting, changing
//! health and stopping updates the live stream and the channel's stream sessions, records to S3
//! when the channel has a recording configuration, and emits IVS's EventBridge events
//! (docs/aws-facts.md §11) through the event bus.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::record_to_s3::{self, Target};
use crate::events;
use crate::ids::{Scope, alnum, arn_id, stream_id};
use crate::model::sessions::{Recording, StreamEvent, StreamSession};
use crate::model::{Broadcast, Channel, State};
use crate::sim::BroadcastSpec;
use crate::validate;
use crate::wire::ApiError;

const STATE_CHANGE: &str = "IVS Stream State Change";
const HEALTH_CHANGE: &str = "IVS Stream Health Change";
const RECORDING_CHANGE: &str = "IVS Recording State Change";
const LIMIT_BREACH: &str = "IVS Limit Breach";

/// Collects one step's events and the session events they leave behind.
struct Emitter {
    scope: Scope,
    channel_arn: String,
    channel_name: String,
    stream_id: String,
    now: DateTime<Utc>,
    events: Vec<Value>,
    history: Vec<StreamEvent>,
}

impl Emitter {
    fn new(channel: &Channel, stream_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            scope: scope_of(&channel.arn),
            channel_arn: channel.arn.clone(),
            channel_name: channel.name.clone(),
            stream_id: stream_id.to_owned(),
            now,
            events: Vec::new(),
            history: Vec::new(),
        }
    }

    /// An event about this stream; `name` is its `event_name` or `recording_status`.
    fn emit(&mut self, detail_type: &str, name: &str, mut detail: Value, code: Option<&str>) {
        detail["channel_name"] = json!(self.channel_name);
        detail["stream_id"] = json!(self.stream_id);
        if detail_type != RECORDING_CHANGE {
            detail["event_name"] = json!(name);
        }
        let resources = vec![self.channel_arn.clone()];
        self.events.push(events::envelope(
            &self.scope,
            "aws.ivs",
            detail_type,
            resources,
            detail,
        ));
        self.history.push(StreamEvent {
            name: name.to_owned(),
            event_type: detail_type.to_owned(),
            time: self.now,
            code: code.map(str::to_owned),
        });
    }

    fn recording(
        &mut self,
        status: &str,
        recording: &Recording,
        reason: Option<&str>,
        duration_ms: i64,
        ended: bool,
    ) {
        let mut detail = json!({
            "recording_status": status,
            "recording_status_reason": reason.unwrap_or_default(),
            "recording_s3_bucket_name": recording.bucket,
            "recording_s3_key_prefix": recording.prefix,
            "recording_duration_ms": duration_ms,
            "recording_session_id": recording.session_id,
        });
        if ended {
            detail["recording_session_stream_ids"] = json!([self.stream_id]);
        }
        self.emit(RECORDING_CHANGE, status, detail, reason);
    }
}

/// Region and account of an IVS ARN.
fn scope_of(arn: &str) -> Scope {
    let mut parts = arn.split(':').skip(3);
    Scope {
        region: parts.next().unwrap_or_default().to_owned(),
        account: parts.next().unwrap_or_default().to_owned(),
    }
}

/// Starts a broadcast, or changes the health and viewers of a live one.
pub fn start(state: &mut State, spec: BroadcastSpec) -> Result<Broadcast, ApiError> {
    validate::one_of("health", &spec.health, &["HEALTHY", "STARVING", "UNKNOWN"])?;
    if let Some(failure) = &spec.recording_failure {
        validate::one_of("recordingFailure", failure, &["start", "end"])?;
    }
    let channel = state
        .data
        .channels
        .get(&spec.channel_arn)
        .ok_or_else(|| ApiError::not_found(&spec.channel_arn))?
        .clone();
    if let Some(live) = change_health(state, &channel, &spec) {
        return Ok(live);
    }
    let now = Utc::now();
    let broadcast = Broadcast {
        channel_arn: channel.arn.clone(),
        stream_id: stream_id(),
        playback_url: channel.playback_url.clone(),
        start_time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        state: "LIVE".into(),
        health: spec.health.clone(),
        viewer_count: spec.viewer_count,
    };
    state
        .data
        .broadcasts
        .insert(channel.arn.clone(), broadcast.clone());
    let mut emitter = Emitter::new(&channel, &broadcast.stream_id, now);
    emitter.emit(STATE_CHANGE, "Session Created", json!({}), None);
    emitter.emit(STATE_CHANGE, "Stream Start", json!({}), None);
    if spec.health == "STARVING" {
        emitter.emit(HEALTH_CHANGE, "Starvation Start", json!({}), None);
    }
    let config = recording_configuration(state, &channel);
    let recording = start_recording(state, &channel, config.as_ref(), &spec, &mut emitter);
    limit_breach(state, &mut emitter);
    let session = StreamSession {
        stream_id: broadcast.stream_id.clone(),
        channel_arn: channel.arn.clone(),
        start_time: now,
        end_time: None,
        channel: serde_json::to_value(&channel).unwrap_or_default(),
        ingest_configuration: ingest_configuration(),
        recording_configuration: config,
        events: std::mem::take(&mut emitter.history),
        recording,
    };
    state
        .data
        .stream_sessions
        .entry(channel.arn.clone())
        .or_default()
        .push(session);
    events::publish(&mut state.data, emitter.events);
    Ok(broadcast)
}

/// On a live channel: the new health and viewers, and a health event when starvation starts or
/// ends. None when the channel is not live.
fn change_health(state: &mut State, channel: &Channel, spec: &BroadcastSpec) -> Option<Broadcast> {
    let live = state.data.broadcasts.get_mut(&channel.arn)?;
    let previous = std::mem::replace(&mut live.health, spec.health.clone());
    live.viewer_count = spec.viewer_count;
    let broadcast = live.clone();
    let name = match (previous.as_str(), spec.health.as_str()) {
        (from, "STARVING") if from != "STARVING" => "Starvation Start",
        ("STARVING", "HEALTHY") => "Starvation End",
        _ => return Some(broadcast),
    };
    let mut emitter = Emitter::new(channel, &broadcast.stream_id, Utc::now());
    emitter.emit(HEALTH_CHANGE, name, json!({}), None);
    if let Some(session) = open_session(state, &channel.arn) {
        session.events.append(&mut emitter.history);
    }
    events::publish(&mut state.data, emitter.events);
    Some(broadcast)
}

fn open_session<'a>(state: &'a mut State, channel_arn: &str) -> Option<&'a mut StreamSession> {
    state
        .data
        .stream_sessions
        .get_mut(channel_arn)?
        .last_mut()
        .filter(|s| s.end_time.is_none())
}

/// The channel's recording configuration as JSON (its wire shape), when it has one.
fn recording_configuration(state: &State, channel: &Channel) -> Option<Value> {
    let arn = &channel.recording_configuration_arn;
    if arn.is_empty() {
        return None;
    }
    let config = state.data.recording_configurations.get(arn);
    Some(config.map_or_else(
        || json!({ "arn": arn }),
        |c| serde_json::to_value(c).unwrap_or_default(),
    ))
}

/// Recording Start (and recording-started.json), or Recording Start Failure when the
/// configuration is not ACTIVE, its bucket is elsewhere, or the hook asked for a failure.
fn start_recording(
    state: &mut State,
    channel: &Channel,
    config: Option<&Value>,
    spec: &BroadcastSpec,
    emitter: &mut Emitter,
) -> Option<Recording> {
    let config = config?;
    let bucket = config["destinationConfiguration"]["s3"]["bucketName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let recording_id = alnum(12);
    let recording = Recording {
        prefix: record_to_s3::prefix(
            &emitter.scope.account,
            arn_id(&channel.arn),
            &emitter.now,
            &recording_id,
        ),
        recording_id,
        session_id: alnum(16),
        bucket,
        started_at: emitter.now,
        fail_at_end: spec.recording_failure.as_deref() == Some("end"),
    };
    let refused = config["state"] != "ACTIVE"
        || state.config.foreign_buckets.contains(&recording.bucket)
        || spec.recording_failure.as_deref() == Some("start");
    if refused {
        let failed = Recording {
            prefix: String::new(),
            ..recording
        };
        emitter.recording(
            "Recording Start Failure",
            &failed,
            Some("ValidationException"),
            0,
            false,
        );
        return None;
    }
    Target {
        buckets: &mut state.data.buckets,
        region: &emitter.scope.region,
        channel_arn: &channel.arn,
        recording: &recording,
        config,
    }
    .started();
    emitter.recording("Recording Start", &recording, None, 0, false);
    Some(recording)
}

/// `IVS Limit Breach` Concurrent Broadcasts when more channels are live than the quota allows.
fn limit_breach(state: &State, emitter: &mut Emitter) {
    let limit = state.config.quotas.concurrent_streams;
    let live = state.data.broadcasts.len();
    if live <= limit {
        return;
    }
    let detail = json!({
        "limit_name": "Concurrent Broadcasts",
        "limit_value": limit,
        "exceeded_by": live - limit,
        "limit_unit": "active streams",
    });
    let event = events::envelope(&emitter.scope, "aws.ivs", LIMIT_BREACH, Vec::new(), detail);
    emitter.events.push(event);
}

/// The encoder settings GetStreamSession reports (a typical OBS 1080p30 H.264/AAC stream).
fn ingest_configuration() -> Value {
    json!({
        "video": {
            "avcProfile": "Main", "avcLevel": "4.0", "codec": "avc1.4D4028",
            "encoder": "obs-output module (libobs version 30.0.0)", "targetBitrate": 6_000_000,
            "targetFramerate": 30, "videoHeight": 1080, "videoWidth": 1920,
            "level": "4.0", "profile": "Main", "track": "Track0",
        },
        "audio": { "codec": "mp4a.40.2", "targetBitrate": 160_000, "sampleRate": 48_000, "channels": 2, "track": "Track0" },
    })
}

/// Ends a live broadcast: Stream End, Session Ended, and the recording's end (media,
/// metadata, Recording End or Recording End Failure). False if the channel was not live.
pub fn stop(state: &mut State, channel_arn: &str) -> bool {
    let Some(broadcast) = state.data.broadcasts.remove(channel_arn) else {
        return false;
    };
    let Some(channel) = state.data.channels.get(channel_arn).cloned() else {
        return true;
    };
    let now = Utc::now();
    let mut emitter = Emitter::new(&channel, &broadcast.stream_id, now);
    emitter.emit(STATE_CHANGE, "Stream End", json!({}), None);
    emitter.emit(STATE_CHANGE, "Session Ended", json!({}), None);
    let data = &mut state.data;
    if let Some(session) = data
        .stream_sessions
        .get_mut(channel_arn)
        .and_then(|s| s.last_mut())
    {
        session.end_time = Some(now);
        if let (Some(recording), Some(config)) =
            (&session.recording, &session.recording_configuration)
        {
            let duration_ms = (now - recording.started_at).num_milliseconds();
            let failure = recording.fail_at_end.then_some("InternalServerException");
            Target {
                buckets: &mut data.buckets,
                region: &emitter.scope.region,
                channel_arn,
                recording,
                config,
            }
            .ended(&now, duration_ms, failure);
            let status = if failure.is_some() {
                "Recording End Failure"
            } else {
                "Recording End"
            };
            emitter.recording(status, recording, failure, duration_ms, true);
        }
        session.events.append(&mut emitter.history);
    }
    events::publish(data, emitter.events);
    true
}
