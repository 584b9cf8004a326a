//! IVS stream sessions: one per broadcast of a channel, with the channel and configurations as
//! they were when it started, its events (newest last) and the recording it produced.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct StreamSession {
    pub stream_id: String,
    pub channel_arn: String,
    pub start_time: DateTime<Utc>,
    pub end_time: Option<DateTime<Utc>>,
    pub channel: Value,
    pub ingest_configuration: Value,
    pub recording_configuration: Option<Value>,
    pub events: Vec<StreamEvent>,
    pub recording: Option<Recording>,
}

#[derive(Debug, Clone)]
pub struct StreamEvent {
    pub name: String,
    pub event_type: String,
    pub time: DateTime<Utc>,
    pub code: Option<String>,
}

/// A recording to S3 in progress or done.
#[derive(Debug, Clone)]
pub struct Recording {
    pub recording_id: String,
    pub session_id: String,
    pub bucket: String,
    pub prefix: String,
    pub started_at: DateTime<Utc>,
    /// The admin hook asked for `Recording End Failure`.
    pub fail_at_end: bool,
}

pub fn iso_millis(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl StreamSession {
    pub fn has_error_event(&self) -> bool {
        self.events.iter().any(|e| e.code.is_some())
    }

    pub fn summary(&self) -> Value {
        let mut out = json!({
            "streamId": self.stream_id,
            "startTime": iso_millis(&self.start_time),
            "hasErrorEvent": self.has_error_event(),
        });
        if let Some(end) = &self.end_time {
            out["endTime"] = json!(iso_millis(end));
        }
        out
    }

    /// GetStreamSession's `streamSession`: events newest first, at most 500 (IVS truncates).
    pub fn detail(&self) -> Value {
        let mut out = self.summary();
        out.as_object_mut().map(|o| o.remove("hasErrorEvent"));
        out["channel"] = self.channel.clone();
        out["ingestConfiguration"] = self.ingest_configuration.clone();
        if let Some(config) = &self.recording_configuration {
            out["recordingConfiguration"] = config.clone();
        }
        let events: Vec<Value> = self
            .events
            .iter()
            .rev()
            .take(500)
            .map(|e| {
                let mut event = json!({ "name": e.name, "type": e.event_type, "eventTime": iso_millis(&e.time) });
                if let Some(code) = &e.code {
                    event["code"] = json!(code);
                }
                event
            })
            .collect();
        out["truncatedEvents"] = json!(events);
        out
    }
}
