//! SQS shapes: a queue with its attributes, tags and messages (send order), and one message with
//! its visibility, receive count and the receipt handle of its latest receive.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub url: String,
    pub arn: String,
    /// Settable attributes as SQS stores them (strings), defaults included.
    pub attributes: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
    pub created: i64,
    pub last_modified: i64,
    pub messages: VecDeque<Message>,
    pub last_purge: Option<Instant>,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub md5: String,
    pub message_attributes: Value,
    pub sent_ms: i64,
    pub first_receive_ms: Option<i64>,
    pub receive_count: u32,
    pub visible_at: Instant,
    /// The handle of the latest receive; older handles no longer delete or change the message.
    pub receipt: Option<String>,
}

impl Queue {
    /// The attribute as an integer (the defaults are always present).
    pub fn int_attribute(&self, name: &str) -> i64 {
        self.attributes
            .get(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Messages visible at `now`, not visible (in flight), and delayed.
    pub fn counts(&self, now: Instant) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for message in &self.messages {
            match (message.visible_at <= now, message.receive_count) {
                (true, _) => counts.0 += 1,
                (false, 0) => counts.2 += 1,
                (false, _) => counts.1 += 1,
            }
        }
        counts
    }

    pub fn dump(&self, now: Instant) -> Value {
        let (visible, in_flight, delayed) = self.counts(now);
        json!({
            "name": self.name,
            "url": self.url,
            "arn": self.arn,
            "attributes": self.attributes,
            "tags": self.tags,
            "visible": visible,
            "inFlight": in_flight,
            "delayed": delayed,
            "bodies": self.messages.iter().map(|m| &m.body).collect::<Vec<_>>(),
        })
    }
}
