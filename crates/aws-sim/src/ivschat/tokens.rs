//! CreateChatToken: a single-use token for one user of one room, carrying the user's
//! capabilities and attributes, valid for a short while (`ChatTiming::token_ttl`); the session it
//! opens lasts `sessionDurationInMinutes`. Tokens are opaque: the simulator remembers them.

use std::time::Instant;

use serde::Deserialize;
use serde_json::json;

use super::hub::Attributes;
use super::model::Grant;
use super::{Fields, find, input, reply};
use crate::call::Call;
use crate::ids::alnum;
use crate::model::State;
use crate::wire::OpResult;

const CAPABILITIES: &[&str] = &["SEND_MESSAGE", "DISCONNECT_USER", "DELETE_MESSAGE"];

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct TokenInput {
    room_identifier: Option<String>,
    user_id: Option<String>,
    capabilities: Option<Vec<String>>,
    session_duration_in_minutes: Option<i64>,
    attributes: Option<Attributes>,
}

impl TokenInput {
    fn check(&self) -> Result<(), crate::wire::ApiError> {
        let mut fields = Fields::default();
        let room = fields.required("roomIdentifier", self.room_identifier.as_deref());
        fields.arn("roomIdentifier", room, "room");
        let user = fields.required("userId", self.user_id.as_deref());
        fields.length("userId", user, (1, 128));
        for capability in self.capabilities.iter().flatten() {
            if !CAPABILITIES.contains(&capability.as_str()) {
                fields.fail(
                    "capabilities",
                    format!("'{capability}' is not one of [{}]", CAPABILITIES.join(", ")),
                );
            }
        }
        fields.range(
            "sessionDurationInMinutes",
            self.session_duration_in_minutes,
            (1, 180),
        );
        fields.attributes("attributes", self.attributes.as_ref());
        fields.check()
    }
}

fn iso(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input: TokenInput = input(call)?;
    input.check()?;
    let room = input.room_identifier.unwrap_or_default();
    find(&state.data.chat.rooms, &room, &call.scope)?;
    let timing = &state.config.chat;
    let minutes = input.session_duration_in_minutes.unwrap_or(60);
    let now = chrono::Utc::now();
    let token_expiration = now + timing.token_ttl();
    let session_expiration = now + timing.session(minutes);
    let token = format!("AQICAH{}", alnum(200));
    let grant = Grant {
        room_arn: room,
        user_id: input.user_id.unwrap_or_default(),
        capabilities: input.capabilities.unwrap_or_default(),
        attributes: input.attributes.unwrap_or_default(),
        session_duration_in_minutes: minutes,
        token_expiration_time: iso(token_expiration),
        session_expiration_time: iso(session_expiration),
        expires_at: Instant::now() + timing.token_ttl(),
        session_ends_at: Instant::now() + timing.session(minutes),
    };
    let body = json!({
        "token": token,
        "tokenExpirationTime": grant.token_expiration_time,
        "sessionExpirationTime": grant.session_expiration_time,
    });
    let chat = &mut state.data.chat;
    let now = Instant::now();
    chat.grants.retain(|_, g| g.expires_at > now);
    chat.grants.insert(token, grant);
    reply(body)
}
