//! The in-memory account: every IVS, IVS Chat, SSM, SQS, EventBridge and S3 resource, IVS's
//! stream sessions, the audit logs tests assert on, and the live configuration (quotas, timing).
//! One `State` sits behind one mutex; handlers run synchronously under it, so every operation is
//! atomic like a single AWS API call.

pub mod events;
pub mod ivs;
pub mod s3;
pub mod sessions;
pub mod sqs;
mod ssm;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value, json};

pub use ivs::{
    Broadcast, Channel, CreateChannelLog, PlaybackKeyPair, RecordingConfiguration, Revocation,
    StreamKey,
};
pub use ssm::{Parameter, ParameterVersion};

use crate::config::SimConfig;

/// All resources, keyed by ARN (sorted, which gives stable pagination).
#[derive(Debug, Default)]
pub struct Data {
    pub channels: BTreeMap<String, Channel>,
    pub stream_keys: BTreeMap<String, StreamKey>,
    pub recording_configurations: BTreeMap<String, RecordingConfiguration>,
    pub playback_key_pairs: BTreeMap<String, PlaybackKeyPair>,
    /// Live broadcasts by channel ARN.
    pub broadcasts: BTreeMap<String, Broadcast>,
    pub revocations: Vec<Revocation>,
    pub create_channel_log: Vec<CreateChannelLog>,
    /// SSM parameters by parameter ARN (the ARN carries region and name).
    pub parameters: BTreeMap<String, Parameter>,
    /// IVS Chat rooms, logging configurations, tokens and live connections.
    pub chat: crate::ivschat::ChatData,
    /// Each channel's broadcasts, oldest first, by channel ARN (kept after the channel is deleted).
    pub stream_sessions: BTreeMap<String, Vec<sessions::StreamSession>>,
    /// SQS queues by queue ARN.
    pub queues: BTreeMap<String, sqs::Queue>,
    pub events: events::EventBus,
    /// S3 buckets by name.
    pub buckets: BTreeMap<String, s3::Bucket>,
}

#[derive(Debug)]
pub struct State {
    pub config: SimConfig,
    pub data: Data,
}

impl State {
    pub fn new(config: SimConfig) -> Self {
        Self {
            config,
            data: Data::default(),
        }
    }

    /// Moves recording configurations whose creation delay has passed out of CREATING, and
    /// delivers delayed events that are due.
    pub fn settle(&mut self, now: Instant) {
        for config in self.data.recording_configurations.values_mut() {
            config.settle(now);
        }
        crate::events::release_due(&mut self.data, now);
    }

    /// Everything, values and secrets included: this is a test tool.
    pub fn dump(&self) -> Value {
        let data = &self.data;
        json!({
            "channels": values(&data.channels),
            "streamKeys": values(&data.stream_keys),
            "recordingConfigurations": values(&data.recording_configurations),
            "playbackKeyPairs": values(&data.playback_key_pairs),
            "streams": values(&data.broadcasts),
            "revocations": data.revocations,
            "createChannelLog": data.create_channel_log,
            "parameters": values(&data.parameters),
            "chat": data.chat.dump(),
            "streamSessions": data.stream_sessions.values().flatten().map(|s| {
                let mut detail = s.detail();
                detail["channelArn"] = json!(s.channel_arn);
                detail
            }).collect::<Vec<_>>(),
            "queues": data.queues.values().map(|q| q.dump(Instant::now())).collect::<Vec<_>>(),
            "events": {
                "rules": values(&data.events.rules),
                "faults": data.events.faults,
                "held": data.events.held.len(),
                "delayed": data.events.delayed.len(),
                "failedInvocations": data.events.failed_invocations,
                "log": data.events.log,
            },
            "buckets": data.buckets.values().map(|b| json!({
                "name": b.name,
                "keys": b.objects.keys().collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}

fn values<T: Serialize>(map: &BTreeMap<String, T>) -> Vec<&T> {
    map.values().collect()
}

/// `value` serialised, keeping only `keys` (wire summaries are subsets of the full shapes).
pub fn pick(value: &impl Serialize, keys: &[&str]) -> Value {
    let Ok(Value::Object(full)) = serde_json::to_value(value) else {
        return Value::Null;
    };
    let kept: Map<String, Value> = full
        .into_iter()
        .filter(|(key, _)| keys.contains(&key.as_str()))
        .collect();
    Value::Object(kept)
}

/// `value` serialised without `keys` (fields the simulator keeps for the dump only).
pub fn omit(value: &impl Serialize, keys: &[&str]) -> Value {
    let Ok(Value::Object(full)) = serde_json::to_value(value) else {
        return Value::Null;
    };
    let kept: Map<String, Value> = full
        .into_iter()
        .filter(|(key, _)| !keys.contains(&key.as_str()))
        .collect();
    Value::Object(kept)
}
