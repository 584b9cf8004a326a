//! Chat tokens and moderation as the domain knows them: the capabilities a member's chat token
//! may carry, and the requests that mint a token, disconnect a user, delete a message or send an
//! event, with IVS Chat's limits (docs/aws-facts.md §11) checked as pure functions that name
//! every bad field at once.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::FieldError;
use super::rules::no_control_characters;

/// A chat user id (CreateChatToken `userId`, DisconnectUser `userId`): 1-128 characters.
pub const MAX_USER_ID_CHARS: usize = 128;
/// A chat session lasts 1-180 minutes, 60 unless asked otherwise.
pub const MIN_SESSION_MINUTES: i64 = 1;
pub const MAX_SESSION_MINUTES: i64 = 180;
pub const DEFAULT_SESSION_MINUTES: i64 = 60;
/// Token and event attributes: at most 1 KB in total (keys and values, UTF-8 bytes).
pub const MAX_ATTRIBUTES_BYTES: usize = 1024;
/// A moderation reason: 1-256 characters.
pub const MAX_REASON_CHARS: usize = 256;
/// An event name: 1-100 characters.
pub const MAX_EVENT_NAME_CHARS: usize = 100;
/// A message id is exactly 12 letters and digits (the `Id` of a received message).
pub const MESSAGE_ID_CHARS: usize = 12;
pub const MESSAGE_ID_PATTERN: &str = "^[a-zA-Z0-9]{12}$";
/// IVS Chat's own events (`aws:DELETE_MESSAGE`, `aws:DISCONNECT_USER`) carry this prefix; an
/// application event may not, so members' clients can trust what looks like one.
pub const RESERVED_EVENT_PREFIX: &str = "aws:";

/// What a chat token lets its holder do beyond reading the room.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    strum::IntoStaticStr,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum ChatCapability {
    /// Send messages to the room.
    SendMessage,
    /// Disconnect other users from the room.
    DisconnectUser,
    /// Delete other users' messages.
    DeleteMessage,
}

impl ChatCapability {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// `POST /v1/channels/{id}/chat-tokens`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "member-4711", "capabilities": ["SEND_MESSAGE"],
    "session_duration_minutes": 60, "attributes": {"display_name": "Ada"}}))]
pub struct ChatTokenRequest {
    /// The member, as the room's messages will name the sender (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub user_id: String,
    /// What the member may do beyond reading; none = read only.
    #[serde(default)]
    #[schema(max_items = 3)]
    pub capabilities: Vec<ChatCapability>,
    /// How long the chat connection may last (1-180 minutes). Default 60.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 180)]
    pub session_duration_minutes: Option<i64>,
    /// Shown to the room with the member's messages (`Sender.Attributes`); at most 1 KB in total.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// A token request that passed every check, in IVS Chat's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatTokenGrant<'a> {
    pub user_id: &'a str,
    pub capabilities: Vec<ChatCapability>,
    pub session_minutes: i32,
    pub attributes: &'a BTreeMap<String, String>,
}

impl ChatTokenRequest {
    /// The grant, or one entry per bad field.
    pub fn validate(&self) -> Result<ChatTokenGrant<'_>, Vec<FieldError>> {
        let mut errors = Vec::new();
        push(&mut errors, "/user_id", user_id_rule(&self.user_id));
        let mut capabilities = self.capabilities.clone();
        capabilities.sort();
        capabilities.dedup();
        if capabilities.len() != self.capabilities.len() {
            errors.push(FieldError::new(
                "/capabilities",
                "capabilities must not list a capability twice",
            ));
        }
        let minutes = self
            .session_duration_minutes
            .unwrap_or(DEFAULT_SESSION_MINUTES);
        if !(MIN_SESSION_MINUTES..=MAX_SESSION_MINUTES).contains(&minutes) {
            errors.push(FieldError::new(
                "/session_duration_minutes",
                format!(
                    "session_duration_minutes must be between {MIN_SESSION_MINUTES} and {MAX_SESSION_MINUTES}"
                ),
            ));
        }
        push(
            &mut errors,
            "/attributes",
            attributes_rule(&self.attributes),
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ChatTokenGrant {
            user_id: &self.user_id,
            capabilities: self.capabilities.clone(),
            session_minutes: minutes as i32,
            attributes: &self.attributes,
        })
    }
}

/// `POST /v1/channels/{id}/chat/disconnections`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "member-4711", "reason": "spamming the class"}))]
pub struct Disconnection {
    /// Every connection of this user to the room is closed (1-128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub user_id: String,
    /// Why; shown to the room with the disconnection and kept in the audit trail (1-256).
    #[schema(min_length = 1, max_length = 256)]
    pub reason: Option<String>,
}

impl Disconnection {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        push(&mut errors, "/user_id", user_id_rule(&self.user_id));
        push(&mut errors, "/reason", reason_rule(self.reason.as_deref()));
        done(errors)
    }
}

/// `POST /v1/channels/{id}/chat/message-deletions`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message_id": "ABC123def456", "reason": "off topic"}))]
pub struct MessageDeletion {
    /// The `Id` of the message as members received it (12 letters and digits).
    #[schema(min_length = 12, max_length = 12, pattern = "^[a-zA-Z0-9]{12}$")]
    pub message_id: String,
    /// Why; sent to the room with the deletion and kept in the audit trail (1-256).
    #[schema(min_length = 1, max_length = 256)]
    pub reason: Option<String>,
}

impl MessageDeletion {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let id = &self.message_id;
        if id.len() != MESSAGE_ID_CHARS || !id.chars().all(|c| c.is_ascii_alphanumeric()) {
            errors.push(FieldError::new(
                "/message_id",
                format!("message_id must be the {MESSAGE_ID_CHARS} letters and digits of a received message's Id"),
            ));
        }
        push(&mut errors, "/reason", reason_rule(self.reason.as_deref()));
        done(errors)
    }
}

/// `POST /v1/channels/{id}/chat/events`.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"event_name": "class_starts_soon", "attributes": {"minutes": "5"}}))]
pub struct ChatEvent {
    /// The application's name for the event (1-100 characters, not starting with `aws:`).
    #[schema(min_length = 1, max_length = 100)]
    pub event_name: String,
    /// Sent with the event; at most 1 KB in total.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

impl ChatEvent {
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        push(
            &mut errors,
            "/event_name",
            event_name_rule(&self.event_name),
        );
        push(
            &mut errors,
            "/attributes",
            attributes_rule(&self.attributes),
        );
        done(errors)
    }
}

fn push(errors: &mut Vec<FieldError>, field: &str, rule: Result<(), String>) {
    if let Err(message) = rule {
        errors.push(FieldError::new(field, message));
    }
}

fn done(errors: Vec<FieldError>) -> Result<(), Vec<FieldError>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// 1-128 characters, no control character (it is written to the audit trail, where a NUL
/// would fail after IVS had acted).
pub fn user_id_rule(id: &str) -> Result<(), String> {
    if !(1..=MAX_USER_ID_CHARS).contains(&id.chars().count()) {
        return Err(format!("user_id must be 1-{MAX_USER_ID_CHARS} characters"));
    }
    no_control_characters(id, "user_id")
}

fn reason_rule(reason: Option<&str>) -> Result<(), String> {
    let Some(reason) = reason else {
        return Ok(());
    };
    if !(1..=MAX_REASON_CHARS).contains(&reason.chars().count()) {
        return Err(format!("reason must be 1-{MAX_REASON_CHARS} characters"));
    }
    no_control_characters(reason, "reason")
}

fn event_name_rule(name: &str) -> Result<(), String> {
    if !(1..=MAX_EVENT_NAME_CHARS).contains(&name.chars().count()) {
        return Err(format!(
            "event_name must be 1-{MAX_EVENT_NAME_CHARS} characters"
        ));
    }
    if name.starts_with(RESERVED_EVENT_PREFIX) {
        return Err(format!(
            "event_name must not start with '{RESERVED_EVENT_PREFIX}' (IVS Chat's own events)"
        ));
    }
    no_control_characters(name, "event_name")
}

/// At most 1 KB of keys and values together; no NUL (Postgres text cannot hold one, and event
/// attributes go to the audit trail).
fn attributes_rule(attributes: &BTreeMap<String, String>) -> Result<(), String> {
    let bytes: usize = attributes.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_ATTRIBUTES_BYTES {
        return Err(format!(
            "attributes must be at most {MAX_ATTRIBUTES_BYTES} bytes in total (keys and values); these are {bytes}"
        ));
    }
    if attributes
        .iter()
        .any(|(k, v)| k.contains('\0') || v.contains('\0'))
    {
        return Err("attributes must not contain NUL characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(json: serde_json::Value) -> ChatTokenRequest {
        serde_json::from_value(json).expect("a token request")
    }

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn a_minimal_token_request_reads_only_for_an_hour() {
        let request = token(serde_json::json!({"user_id": "m1"}));
        let grant = request.validate().unwrap();
        assert_eq!(grant.session_minutes, 60);
        assert!(grant.capabilities.is_empty());
    }

    #[test]
    fn every_bad_token_field_is_named() {
        let big = "x".repeat(MAX_ATTRIBUTES_BYTES);
        let request = token(serde_json::json!({
            "user_id": "",
            "capabilities": ["SEND_MESSAGE", "SEND_MESSAGE"],
            "session_duration_minutes": 181,
            "attributes": {"k": big},
        }));
        assert_eq!(
            fields(request.validate().unwrap_err()),
            [
                "/user_id",
                "/capabilities",
                "/session_duration_minutes",
                "/attributes"
            ]
        );
    }

    #[test]
    fn limits_are_inclusive() {
        let at_limit = "x".repeat(MAX_ATTRIBUTES_BYTES - 1);
        let request = token(serde_json::json!({
            "user_id": "u".repeat(MAX_USER_ID_CHARS),
            "capabilities": ["SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE"],
            "session_duration_minutes": MAX_SESSION_MINUTES,
            "attributes": {"k": at_limit},
        }));
        assert!(request.validate().is_ok());
        let short = token(serde_json::json!({"user_id": "m", "session_duration_minutes": 0}));
        assert_eq!(
            fields(short.validate().unwrap_err()),
            ["/session_duration_minutes"]
        );
    }

    #[test]
    fn unknown_capabilities_are_refused_when_read() {
        let read = serde_json::from_value::<ChatTokenRequest>(
            serde_json::json!({"user_id": "m", "capabilities": ["BAN_EVERYONE"]}),
        );
        assert!(read.is_err());
    }

    #[test]
    fn moderation_requests_follow_ivs_chat_ranges() {
        let bad = Disconnection {
            user_id: "m\0".into(),
            reason: Some(String::new()),
        };
        assert_eq!(fields(bad.validate().unwrap_err()), ["/user_id", "/reason"]);
        let deletion = MessageDeletion {
            message_id: "ABC123def45!".into(),
            reason: Some("r".repeat(MAX_REASON_CHARS + 1)),
        };
        assert_eq!(
            fields(deletion.validate().unwrap_err()),
            ["/message_id", "/reason"]
        );
        let fine = MessageDeletion {
            message_id: "ABC123def456".into(),
            reason: None,
        };
        assert!(fine.validate().is_ok());
        let event = ChatEvent {
            event_name: "aws:DISCONNECT_USER".into(),
            attributes: BTreeMap::from([("a".into(), "\0".into())]),
        };
        assert_eq!(
            fields(event.validate().unwrap_err()),
            ["/event_name", "/attributes"]
        );
    }
}
