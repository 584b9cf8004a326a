//! The live side of IVS Chat: the frames of the Messaging API (MESSAGE, EVENT, ERROR), delivery
//! to every connection of a room, the three client actions with their capability, length, review
//! and rate checks, disconnections, and the transcript tests assert on. Runs under the state lock.

use std::collections::BTreeMap;

use governor::RateLimiter;
use serde::Deserialize;
use serde_json::{Value, json};

use super::model::{ChatData, MessageRate, Push, Room, Transcript};
use crate::ids::alnum;
use crate::rates::quota;

pub type Attributes = BTreeMap<String, String>;

/// A client action as published on the WebSocket (`SEND_MESSAGE`, `DELETE_MESSAGE`,
/// `DISCONNECT_USER`); fields of the other actions are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Action {
    pub action: Option<String>,
    pub request_id: Option<String>,
    pub content: Option<String>,
    pub attributes: Option<Attributes>,
    pub id: Option<String>,
    pub reason: Option<String>,
    pub user_id: Option<String>,
}

/// A refused action: the `ErrorCode` (an HTTP status) and `ErrorMessage` of the ERROR frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub u16, pub String);

fn refuse<T>(code: u16, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(code, message.into()))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `frame` with `RequestId` when the client or caller gave one.
fn with_request_id(mut frame: Value, request_id: Option<&str>) -> Value {
    if let Some(id) = request_id {
        frame["RequestId"] = json!(id);
    }
    frame
}

/// An EVENT frame (`aws:DELETE_MESSAGE`, `aws:DISCONNECT_USER` or an application's own name).
pub fn event_frame(name: &str, attributes: &Attributes, request_id: Option<&str>) -> Value {
    let frame = json!({
        "Type": "EVENT",
        "Id": alnum(12),
        "EventName": name,
        "Attributes": attributes,
        "SendTime": now(),
    });
    with_request_id(frame, request_id)
}

/// An ERROR frame answering the action `request_id`.
pub fn error_frame(refusal: &Refusal, request_id: Option<&str>) -> Value {
    let frame = json!({
        "Type": "ERROR",
        "Id": alnum(12),
        "ErrorCode": refusal.0,
        "ErrorMessage": refusal.1,
    });
    with_request_id(frame, request_id)
}

fn reason_attributes(key: &str, value: &str, reason: Option<&str>) -> Attributes {
    let mut attributes = Attributes::from([(key.to_owned(), value.to_owned())]);
    attributes.insert("Reason".into(), reason.unwrap_or_default().to_owned());
    attributes
}

impl ChatData {
    /// Sends `frame` to every connection of the room and records it; returns the frame's `Id`.
    pub fn broadcast(&mut self, room_arn: &str, frame: Value) -> String {
        for connection in self.connections.values() {
            if connection.room_arn == room_arn {
                let _ = connection.tx.send(Push::Frame(frame.clone()));
            }
        }
        let id = frame["Id"].as_str().unwrap_or_default().to_owned();
        self.transcript.push(Transcript {
            room_arn: room_arn.to_owned(),
            frame,
            deleted: false,
        });
        id
    }

    /// Tells the room `user_id` is being disconnected (EVENT `aws:DISCONNECT_USER`), then closes
    /// that user's connections; returns the event's `Id`.
    pub fn disconnect_user(
        &mut self,
        room_arn: &str,
        user_id: &str,
        reason: Option<&str>,
        request_id: Option<&str>,
    ) -> String {
        let attributes = reason_attributes("UserId", user_id, reason);
        let id = self.broadcast(
            room_arn,
            event_frame("aws:DISCONNECT_USER", &attributes, request_id),
        );
        let close = format!(
            "Disconnected by a moderator: {}",
            reason.unwrap_or_default()
        );
        self.close_where(|c| c.room_arn == room_arn && c.user_id == user_id, &close);
        id
    }

    /// Tells the room to unrender message `message_id` (EVENT `aws:DELETE_MESSAGE`, with both the
    /// `MessageId` and the deprecated `MessageID` attribute); returns the event's `Id`.
    pub fn delete_message(
        &mut self,
        room_arn: &str,
        message_id: &str,
        reason: Option<&str>,
        request_id: Option<&str>,
    ) -> String {
        for said in &mut self.transcript {
            if said.room_arn == room_arn && said.frame["Id"] == message_id {
                said.deleted = true;
            }
        }
        let mut attributes = reason_attributes("MessageId", message_id, reason);
        attributes.insert("MessageID".into(), message_id.to_owned());
        let frame = event_frame("aws:DELETE_MESSAGE", &attributes, request_id);
        self.broadcast(room_arn, frame)
    }

    /// A deleted room: its connections close, its unused tokens and its rate bucket go.
    pub fn close_room(&mut self, room_arn: &str) {
        self.close_where(|c| c.room_arn == room_arn, "The room was deleted");
        self.grants.retain(|_, grant| grant.room_arn != room_arn);
        self.rates.remove(room_arn);
    }

    /// Closes (after their queued frames) and forgets the connections matching `which`.
    fn close_where(&mut self, which: impl Fn(&super::model::Connection) -> bool, reason: &str) {
        let closing: Vec<String> = self
            .connections
            .values()
            .filter(|c| which(c))
            .map(|c| c.id.clone())
            .collect();
        for id in closing {
            if let Some(connection) = self.connections.remove(&id) {
                let _ = connection.tx.send(Push::Close(reason.to_owned()));
            }
        }
    }

    /// One client action of connection `connection_id`. Results reach the room (and the sender)
    /// through their queues; a refusal is the sender's ERROR frame.
    pub fn perform(&mut self, connection_id: &str, action: &Action) -> Result<(), Refusal> {
        let Some(connection) = self.connections.get(connection_id).cloned() else {
            return refuse(401, "The connection has ended");
        };
        let request_id = action.request_id.as_deref();
        let needs = match action.action.as_deref() {
            Some("SEND_MESSAGE") => "SEND_MESSAGE",
            Some("DELETE_MESSAGE") => "DELETE_MESSAGE",
            Some("DISCONNECT_USER") => "DISCONNECT_USER",
            Some(other) => return refuse(400, format!("Unknown Action '{other}'")),
            None => return refuse(400, "Action is required"),
        };
        if !connection.can(needs) {
            return refuse(403, format!("The token does not grant {needs}"));
        }
        let room_arn = connection.room_arn.as_str();
        match needs {
            "SEND_MESSAGE" => self.send_message(&connection, action),
            "DELETE_MESSAGE" => {
                let id = required(action.id.as_deref(), "Id")?;
                self.delete_message(room_arn, id, action.reason.as_deref(), request_id);
                Ok(())
            }
            _ => {
                let user = required(action.user_id.as_deref(), "UserId")?;
                self.disconnect_user(room_arn, user, action.reason.as_deref(), request_id);
                Ok(())
            }
        }
    }

    fn send_message(
        &mut self,
        connection: &super::model::Connection,
        action: &Action,
    ) -> Result<(), Refusal> {
        let content = required(action.content.as_deref(), "Content")?;
        let Some(room) = self.rooms.get(&connection.room_arn).cloned() else {
            return refuse(404, "The room does not exist");
        };
        let length = content.chars().count();
        if i64::try_from(length).unwrap_or(i64::MAX) > room.maximum_message_length {
            return refuse(
                413,
                format!(
                    "Content has {length} characters; the room allows {}",
                    room.maximum_message_length
                ),
            );
        }
        if !self.message_allowed(&room) {
            return refuse(429, "The room's maximumMessageRatePerSecond is exceeded");
        }
        // The simulator runs no Lambda: a configured review handler "fails", so its fallback decides.
        if room
            .message_review_handler
            .as_ref()
            .is_some_and(|h| h.fallback_result == "DENY")
        {
            return refuse(
                406,
                "The message was denied by the room's message review handler",
            );
        }
        let frame = json!({
            "Type": "MESSAGE",
            "Id": alnum(12),
            "Content": content,
            "Attributes": action.attributes.clone().unwrap_or_default(),
            "SendTime": now(),
            "Sender": { "UserId": connection.user_id, "Attributes": connection.attributes },
        });
        self.broadcast(
            &room.arn,
            with_request_id(frame, action.request_id.as_deref()),
        );
        Ok(())
    }

    /// The room's message bucket (`maximumMessageRatePerSecond`, shared by all its clients).
    fn message_allowed(&mut self, room: &Room) -> bool {
        let per_second = room.maximum_message_rate_per_second;
        let rate = self
            .rates
            .entry(room.arn.clone())
            .or_insert_with(|| bucket(per_second));
        if rate.per_second != per_second {
            *rate = bucket(per_second);
        }
        rate.limiter.check().is_ok()
    }
}

fn bucket(per_second: i64) -> MessageRate {
    MessageRate {
        per_second,
        limiter: RateLimiter::direct(quota(per_second as f64)),
    }
}

fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, Refusal> {
    match value {
        Some(v) if !v.is_empty() => Ok(v),
        _ => refuse(400, format!("{field} is required")),
    }
}
