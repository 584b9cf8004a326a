//! The server-side messaging calls: DisconnectUser, DeleteMessage and SendEvent. Each reaches
//! the room's live connections exactly as its WebSocket counterpart does (see `hub`).

use serde::Deserialize;
use serde_json::json;

use super::hub::{Attributes, event_frame};
use super::{Fields, find, input, reply};
use crate::call::Call;
use crate::model::State;
use crate::wire::{ApiError, OpResult};

/// The members of the three calls (each uses a subset).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct MessagingInput {
    room_identifier: Option<String>,
    user_id: Option<String>,
    id: Option<String>,
    reason: Option<String>,
    event_name: Option<String>,
    attributes: Option<Attributes>,
}

/// The input with `roomIdentifier` (required, a room ARN) and `reason` (1–256) checked, plus
/// whatever `more` checks; then the room must exist in the caller's region.
fn checked(
    state: &State,
    call: &Call,
    more: impl FnOnce(&mut Fields, &MessagingInput),
) -> Result<(String, MessagingInput), ApiError> {
    let input: MessagingInput = input(call)?;
    let mut fields = Fields::default();
    let room = input.room_identifier.as_deref();
    fields.required("roomIdentifier", room);
    fields.arn("roomIdentifier", room, "room");
    fields.length("reason", input.reason.as_deref(), (1, 256));
    more(&mut fields, &input);
    fields.check()?;
    let room = room.unwrap_or_default().to_owned();
    find(&state.data.chat.rooms, &room, &call.scope)?;
    Ok((room, input))
}

pub fn disconnect_user(state: &mut State, call: &Call) -> OpResult {
    let (room, input) = checked(state, call, |fields, input| {
        let user = fields.required("userId", input.user_id.as_deref());
        fields.length("userId", user, (1, 128));
    })?;
    let user = input.user_id.unwrap_or_default();
    state
        .data
        .chat
        .disconnect_user(&room, &user, input.reason.as_deref(), None);
    reply(json!({}))
}

/// The model's `MessageID`: exactly 12 of `[a-zA-Z0-9]`. The message need not exist (IVS Chat
/// keeps no history to check against); clients that never saw it ignore the event.
pub fn delete_message(state: &mut State, call: &Call) -> OpResult {
    let (room, input) = checked(state, call, |fields, input| {
        let id = fields.required("id", input.id.as_deref());
        if id.is_some_and(|id| id.len() != 12 || !id.chars().all(|c| c.is_ascii_alphanumeric())) {
            fields.fail("id", "must be 12 characters of [a-zA-Z0-9]");
        }
    })?;
    let message = input.id.unwrap_or_default();
    let id = state
        .data
        .chat
        .delete_message(&room, &message, input.reason.as_deref(), None);
    reply(json!({ "id": id }))
}

pub fn send_event(state: &mut State, call: &Call) -> OpResult {
    let (room, input) = checked(state, call, |fields, input| {
        let name = fields.required("eventName", input.event_name.as_deref());
        fields.length("eventName", name, (1, 100));
        fields.attributes("attributes", input.attributes.as_ref());
    })?;
    let name = input.event_name.unwrap_or_default();
    let attributes = input.attributes.unwrap_or_default();
    let frame = event_frame(&name, &attributes, None);
    let id = state.data.chat.broadcast(&room, frame);
    reply(json!({ "id": id }))
}
