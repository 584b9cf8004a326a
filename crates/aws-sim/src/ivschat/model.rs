//! IVS Chat resource shapes (rooms, logging configurations), the chat tokens the simulator issued,
//! the live WebSocket connections and the transcript of each room. Wire names are IVS Chat's
//! camelCase; dump-only and live fields are skipped from the wire output.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Instant;

use governor::DefaultDirectRateLimiter;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc::UnboundedSender;

use crate::validate::Tags;

/// `messageReviewHandler`: a Lambda ARN ("" = none) and what happens when it fails.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReviewHandler {
    pub uri: String,
    pub fallback_result: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Room {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub create_time: String,
    pub update_time: String,
    pub maximum_message_rate_per_second: i64,
    pub maximum_message_length: i64,
    /// Absent when the room has no handler (UpdateRoom with an empty `uri` removes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_review_handler: Option<ReviewHandler>,
    pub tags: Tags,
    pub logging_configuration_identifiers: Vec<String>,
    /// Order of the last update: ListRooms sorts by `updateTime`, newest first.
    #[serde(skip)]
    pub update_seq: u64,
}

impl Room {
    /// `RoomSummary`: everything but the two message limits.
    pub const SUMMARY: &[&str] = &[
        "arn",
        "id",
        "name",
        "messageReviewHandler",
        "createTime",
        "updateTime",
        "tags",
        "loggingConfigurationIdentifiers",
    ];
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoggingConfiguration {
    pub arn: String,
    pub id: String,
    pub name: String,
    pub create_time: String,
    pub update_time: String,
    pub destination_configuration: Value,
    pub state: String,
    pub tags: Tags,
}

/// A token CreateChatToken issued: single use, valid until `expires_at`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    pub room_arn: String,
    pub user_id: String,
    pub capabilities: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub session_duration_in_minutes: i64,
    pub token_expiration_time: String,
    pub session_expiration_time: String,
    #[serde(skip)]
    pub expires_at: Instant,
    /// When a connection opened with this token is closed (the response's sessionExpirationTime).
    #[serde(skip)]
    pub session_ends_at: Instant,
}

/// What the server task of one WebSocket connection is told to do.
#[derive(Debug, Clone)]
pub enum Push {
    /// Send this JSON frame (MESSAGE, EVENT or ERROR).
    Frame(Value),
    /// Close the connection (DisconnectUser, room deleted), after the frames queued before it.
    Close(String),
}

/// One open WebSocket connection.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    pub id: String,
    pub room_arn: String,
    pub user_id: String,
    pub capabilities: Vec<String>,
    pub attributes: BTreeMap<String, String>,
    pub connected_at: String,
    pub session_expiration_time: String,
    #[serde(skip)]
    pub tx: UnboundedSender<Push>,
}

impl Connection {
    pub fn can(&self, capability: &str) -> bool {
        self.capabilities.iter().any(|c| c == capability)
    }
}

/// Everything said in a room (messages and events, deleted ones included), for assertions.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    pub room_arn: String,
    pub frame: Value,
    pub deleted: bool,
}

/// A room's `maximumMessageRatePerSecond` bucket, rebuilt when UpdateRoom changes the rate.
pub struct MessageRate {
    pub per_second: i64,
    pub limiter: DefaultDirectRateLimiter,
}

impl fmt::Debug for MessageRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageRate({}/s)", self.per_second)
    }
}

/// All IVS Chat state of the account, keyed by ARN (rooms, logging configurations), token
/// (grants) or connection id.
#[derive(Debug, Default)]
pub struct ChatData {
    pub rooms: BTreeMap<String, Room>,
    pub logging_configurations: BTreeMap<String, LoggingConfiguration>,
    pub grants: BTreeMap<String, Grant>,
    pub connections: BTreeMap<String, Connection>,
    pub transcript: Vec<Transcript>,
    pub rates: BTreeMap<String, MessageRate>,
    /// Source of `Room::update_seq`.
    pub updates: u64,
}

impl ChatData {
    pub fn next_update(&mut self) -> u64 {
        self.updates += 1;
        self.updates
    }

    /// Everything, tokens included: this is a test tool.
    pub fn dump(&self) -> Value {
        serde_json::json!({
            "rooms": self.rooms.values().collect::<Vec<_>>(),
            "loggingConfigurations": self.logging_configurations.values().collect::<Vec<_>>(),
            "tokens": self.grants,
            "connections": self.connections.values().collect::<Vec<_>>(),
            "transcript": self.transcript,
        })
    }
}
