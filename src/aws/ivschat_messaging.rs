//! IVS Chat's messaging operations, made while answering API requests: a chat token for a
//! member (CreateChatToken) and the moderation actions (DisconnectUser, DeleteMessage,
//! SendEvent). Each waits for its rate only up to the chat wait budget and otherwise fails at
//! once with [`AwsErrorKind::BudgetExhausted`](super::AwsErrorKind::BudgetExhausted), so a
//! burst of members joining becomes paced calls and quick 429s, never AWS throttling
//! (docs/aws-facts.md §11).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_ivschat::types::ChatTokenCapability;
use chrono::{DateTime, Utc};

use super::{Aws, AwsError, AwsTime, CallClass, Op, op};
use crate::domain::chat_access::{ChatCapability, ChatTokenGrant};

const CREATE_CHAT_TOKEN: Op = op("CreateChatToken", CallClass::ChatToken);
const DISCONNECT_USER: Op = op("DisconnectUser", CallClass::ChatModeration);
const DELETE_MESSAGE: Op = op("DeleteMessage", CallClass::ChatModeration);
const SEND_EVENT: Op = op("SendEvent", CallClass::ChatModeration);

/// A chat token as IVS Chat issued it. The token is a secret: no `Debug`, never logged.
pub struct ChatToken {
    pub token: String,
    /// When IVS Chat stops accepting the token for a new connection.
    pub token_expires_at: DateTime<Utc>,
    /// When a connection made with it is closed.
    pub session_expires_at: DateTime<Utc>,
}

fn to_chrono(time: Option<AwsTime>) -> Option<DateTime<Utc>> {
    time.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
}

fn capability(capability: ChatCapability) -> ChatTokenCapability {
    match capability {
        ChatCapability::SendMessage => ChatTokenCapability::SendMessage,
        ChatCapability::DisconnectUser => ChatTokenCapability::DisconnectUser,
        ChatCapability::DeleteMessage => ChatTokenCapability::DeleteMessage,
    }
}

fn attribute_map(attributes: &BTreeMap<String, String>) -> Option<HashMap<String, String>> {
    (!attributes.is_empty()).then(|| attributes.clone().into_iter().collect())
}

impl Aws {
    /// CreateChatToken calls per second this process makes at most (0: unlimited).
    pub fn chat_token_rate(&self) -> f64 {
        self.limits.rate(CallClass::ChatToken)
    }

    /// DisconnectUser, DeleteMessage or SendEvent calls per second this process makes at most,
    /// each (0: unlimited).
    pub fn chat_moderation_rate(&self) -> f64 {
        self.limits.rate(CallClass::ChatModeration)
    }

    /// A chat token for one member of `room_arn`.
    pub async fn create_chat_token(
        &self,
        room_arn: &str,
        grant: &ChatTokenGrant<'_>,
    ) -> Result<ChatToken, AwsError> {
        let request = self
            .ivschat
            .create_chat_token()
            .room_identifier(room_arn)
            .user_id(grant.user_id)
            .set_capabilities(Some(
                grant.capabilities.iter().copied().map(capability).collect(),
            ))
            .session_duration_in_minutes(grant.session_minutes)
            .set_attributes(attribute_map(grant.attributes));
        let budget = self.limits.chat_wait_budget();
        let out = self
            .call_within(CREATE_CHAT_TOKEN, budget, request.send())
            .await?;
        let times = (
            to_chrono(out.token_expiration_time),
            to_chrono(out.session_expiration_time),
        );
        match (out.token, times) {
            (Some(token), (Some(token_expires_at), Some(session_expires_at))) => Ok(ChatToken {
                token,
                token_expires_at,
                session_expires_at,
            }),
            _ => Err(super::empty(CREATE_CHAT_TOKEN)),
        }
    }

    /// Closes every connection of `user_id` to the room.
    pub async fn disconnect_user(
        &self,
        room_arn: &str,
        user_id: &str,
        reason: Option<&str>,
    ) -> Result<(), AwsError> {
        let request = self
            .ivschat
            .disconnect_user()
            .room_identifier(room_arn)
            .user_id(user_id)
            .set_reason(reason.map(str::to_owned));
        let budget = self.limits.chat_wait_budget();
        self.call_within(DISCONNECT_USER, budget, request.send())
            .await
            .map(drop)
    }

    /// Tells the room's clients to remove a message; returns IVS Chat's id for the action.
    pub async fn delete_chat_message(
        &self,
        room_arn: &str,
        message_id: &str,
        reason: Option<&str>,
    ) -> Result<Option<String>, AwsError> {
        let request = self
            .ivschat
            .delete_message()
            .room_identifier(room_arn)
            .id(message_id)
            .set_reason(reason.map(str::to_owned));
        let budget = self.limits.chat_wait_budget();
        let out = self
            .call_within(DELETE_MESSAGE, budget, request.send())
            .await?;
        Ok(out.id)
    }

    /// Sends an application event to everyone in the room; returns the event's id.
    pub async fn send_event(
        &self,
        room_arn: &str,
        event_name: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<Option<String>, AwsError> {
        let request = self
            .ivschat
            .send_event()
            .room_identifier(room_arn)
            .event_name(event_name)
            .set_attributes(attribute_map(attributes));
        let budget = self.limits.chat_wait_budget();
        let out = self.call_within(SEND_EVENT, budget, request.send()).await?;
        Ok(out.id)
    }
}
