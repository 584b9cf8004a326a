//! EventBridge shapes: rules on the default bus with their targets, the chaos settings of the event
//! path, events held back or delayed by them, and the log of every event's fate.

use std::collections::BTreeMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub name: String,
    pub arn: String,
    pub event_pattern: String,
    #[serde(skip)]
    pub pattern: Value,
    pub state: String,
    pub description: Option<String>,
    pub event_bus_name: String,
    pub targets: BTreeMap<String, Target>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Target {
    #[serde(rename = "Id")]
    pub id: String,
    #[serde(rename = "Arn")]
    pub arn: String,
    #[serde(rename = "Input", skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

/// Chaos on the event path, as sent to `POST /_sim/events/faults`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFaults {
    /// Fraction (0.0–1.0) of events never delivered.
    pub drop_rate: f64,
    /// Fraction (0.0–1.0) of events delivered twice (same event id, as EventBridge retries do).
    pub duplicate_rate: f64,
    /// Hold back about half the events and release them after the next event.
    pub reorder: bool,
    /// Deliver every event this many milliseconds late.
    pub delay_ms: u64,
    /// Seed of the dice, so a run can be reproduced.
    pub seed: u64,
}

/// The default event bus of one simulator.
#[derive(Debug)]
pub struct EventBus {
    /// Rules by ARN (the ARN carries the region).
    pub rules: BTreeMap<String, Rule>,
    pub faults: EventFaults,
    pub rng: StdRng,
    pub held: Vec<Value>,
    pub delayed: Vec<(Instant, Value)>,
    /// Every event's fate, in order: `{id, detailType, name, fate, queues}`.
    pub log: Vec<Value>,
    /// Deliveries an SQS queue policy refused.
    pub failed_invocations: u64,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            rules: BTreeMap::new(),
            faults: EventFaults::default(),
            rng: StdRng::seed_from_u64(0),
            held: Vec::new(),
            delayed: Vec::new(),
            log: Vec::new(),
            failed_invocations: 0,
        }
    }
}
