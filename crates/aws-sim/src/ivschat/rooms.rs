//! Rooms: CreateRoom (regional quota; attached logging configurations must exist), GetRoom,
//! UpdateRoom, DeleteRoom (its live connections are closed, its unused tokens die) and ListRooms
//! (newest update first, filters by name prefix, review handler and logging configuration).

use serde::Deserialize;
use serde_json::json;

use super::model::{ChatData, ReviewHandler, Room};
use super::{
    Fields, Page, find, find_mut, identified, in_scope, input, new_arn, now_iso, reply,
    resource_error,
};
use crate::call::Call;
use crate::ids::{Scope, arn_id};
use crate::model::{State, pick};
use crate::validate::Tags;
use crate::wire::{ApiError, OpResult, Output};

/// The settable room fields, shared by CreateRoom and UpdateRoom.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RoomInput {
    identifier: Option<String>,
    name: Option<String>,
    maximum_message_rate_per_second: Option<i64>,
    maximum_message_length: Option<i64>,
    message_review_handler: Option<HandlerInput>,
    logging_configuration_identifiers: Option<Vec<String>>,
    tags: Option<Tags>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct HandlerInput {
    uri: Option<String>,
    fallback_result: Option<String>,
}

impl RoomInput {
    /// Every constraint of the model on the settable fields.
    fn check(&self, fields: &mut Fields) {
        fields.name("name", self.name.as_deref());
        fields.range(
            "maximumMessageRatePerSecond",
            self.maximum_message_rate_per_second,
            (1, 100),
        );
        fields.range(
            "maximumMessageLength",
            self.maximum_message_length,
            (1, 500),
        );
        if let Some(handler) = &self.message_review_handler {
            lambda_arn(fields, "messageReviewHandler.uri", handler.uri.as_deref());
            let fallback = handler.fallback_result.as_deref();
            if fallback.is_some_and(|f| f != "ALLOW" && f != "DENY") {
                fields.fail(
                    "messageReviewHandler.fallbackResult",
                    "must be one of [ALLOW, DENY]",
                );
            }
        }
        let ids = self.logging_configuration_identifiers.iter().flatten();
        if ids.clone().count() > 3 {
            fields.fail(
                "loggingConfigurationIdentifiers",
                "must have at most 3 items",
            );
        }
        for id in ids {
            fields.arn(
                "loggingConfigurationIdentifiers",
                Some(id),
                "logging-configuration",
            );
        }
        fields.tags("tags", self.tags.as_ref());
    }

    /// The handler after this request: an empty `uri` removes it, an absent one keeps it.
    fn handler(&self, current: Option<ReviewHandler>) -> Option<ReviewHandler> {
        let Some(input) = &self.message_review_handler else {
            return current;
        };
        let uri = match &input.uri {
            Some(uri) => uri.clone(),
            None => current.as_ref().map(|h| h.uri.clone()).unwrap_or_default(),
        };
        let fallback = input
            .fallback_result
            .clone()
            .or_else(|| current.map(|h| h.fallback_result))
            .unwrap_or_else(|| "ALLOW".into());
        (!uri.is_empty()).then_some(ReviewHandler {
            uri,
            fallback_result: fallback,
        })
    }
}

/// The model's `LambdaArn`: empty, or `arn:aws:lambda:<region>:<12 digits>:function:<name>`,
/// at most 170 characters.
pub(super) fn lambda_arn(fields: &mut Fields, field: &str, uri: Option<&str>) {
    let Some(uri) = uri.filter(|u| !u.is_empty()) else {
        return;
    };
    let function = uri.strip_prefix("arn:aws:lambda:").and_then(|rest| {
        let (region, rest) = rest.split_once(':')?;
        let (account, rest) = rest.split_once(':')?;
        let name = rest.strip_prefix("function:")?;
        let region_ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let account_ok = account.len() == 12 && account.chars().all(|c| c.is_ascii_digit());
        (region_ok && account_ok && !name.is_empty()).then_some(())
    });
    if function.is_none() || uri.chars().count() > 170 {
        fields.fail(
            field,
            format!("'{uri}' is not a Lambda function ARN (arn:aws:lambda:<region>:<account>:function:<name>)"),
        );
    }
}

/// Every attached logging configuration exists in the caller's region.
fn attached_exist(chat: &ChatData, ids: &[String], scope: &Scope) -> Result<(), ApiError> {
    for id in ids {
        find(&chat.logging_configurations, id, scope)?;
    }
    Ok(())
}

fn checked(call: &Call) -> Result<RoomInput, ApiError> {
    let input: RoomInput = input(call)?;
    let mut fields = Fields::default();
    input.check(&mut fields);
    fields.check()?;
    Ok(input)
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input = checked(call)?;
    let scope = &call.scope;
    let chat = &mut state.data.chat;
    let logging = input
        .logging_configuration_identifiers
        .clone()
        .unwrap_or_default();
    attached_exist(chat, &logging, scope)?;
    let quota = state.config.quotas.chat_rooms;
    let in_region = || chat.rooms.keys().filter(|a| in_scope(a, scope)).count();
    if chat.rooms.len() >= quota && in_region() >= quota {
        let err = ApiError::quota(format!("Limit of {quota} rooms per region reached"))
            .with("limit", json!(quota));
        return Err(resource_error(err, ""));
    }
    let arn = new_arn(scope, "room");
    let now = now_iso();
    let room = Room {
        id: arn_id(&arn).to_owned(),
        name: input.name.clone().unwrap_or_default(),
        create_time: now.clone(),
        update_time: now,
        maximum_message_rate_per_second: input.maximum_message_rate_per_second.unwrap_or(10),
        maximum_message_length: input.maximum_message_length.unwrap_or(500),
        message_review_handler: input.handler(None),
        tags: input.tags.clone().unwrap_or_default(),
        logging_configuration_identifiers: logging,
        update_seq: chat.next_update(),
        arn,
    };
    let body = json!(room);
    chat.rooms.insert(room.arn.clone(), room);
    reply(body)
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let arn = identified(call, "room")?;
    reply(json!(find(&state.data.chat.rooms, &arn, &call.scope)?))
}

pub fn update(state: &mut State, call: &Call) -> OpResult {
    let input: RoomInput = input(call)?;
    let mut fields = Fields::default();
    let arn = fields.identifier(input.identifier.as_deref(), "room");
    input.check(&mut fields);
    fields.check()?;
    let chat = &mut state.data.chat;
    find(&chat.rooms, &arn, &call.scope)?;
    if let Some(ids) = &input.logging_configuration_identifiers {
        attached_exist(chat, ids, &call.scope)?;
    }
    let seq = chat.next_update();
    let room = find_mut(&mut chat.rooms, &arn, &call.scope)?;
    if let Some(name) = &input.name {
        room.name.clone_from(name);
    }
    if let Some(rate) = input.maximum_message_rate_per_second {
        room.maximum_message_rate_per_second = rate;
    }
    if let Some(length) = input.maximum_message_length {
        room.maximum_message_length = length;
    }
    if let Some(ids) = &input.logging_configuration_identifiers {
        room.logging_configuration_identifiers.clone_from(ids);
    }
    room.message_review_handler = input.handler(room.message_review_handler.take());
    room.update_time = now_iso();
    room.update_seq = seq;
    reply(json!(room))
}

/// Deletes the room; its connections are closed and its unused tokens stop admitting anyone.
pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let arn = identified(call, "room")?;
    let chat = &mut state.data.chat;
    find(&chat.rooms, &arn, &call.scope)?;
    chat.rooms.remove(&arn);
    chat.close_room(&arn);
    Ok(Output::NoContent)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListInput {
    name: Option<String>,
    message_review_handler_uri: Option<String>,
    logging_configuration_identifier: Option<String>,
    #[serde(flatten)]
    page: Page,
}

/// `name` filters by prefix (the model says only "match"; a prefix is the stricter test of a
/// caller, which must re-check names itself), the other filters are exact.
pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: ListInput = input(call)?;
    let mut fields = Fields::default();
    fields.name("name", input.name.as_deref());
    lambda_arn(
        &mut fields,
        "messageReviewHandlerUri",
        input.message_review_handler_uri.as_deref(),
    );
    let logging = input.logging_configuration_identifier.as_deref();
    fields.arn(
        "loggingConfigurationIdentifier",
        logging,
        "logging-configuration",
    );
    fields.check()?;
    let name = input.name.unwrap_or_default();
    let uri = input.message_review_handler_uri.filter(|u| !u.is_empty());
    let keep = |room: &Room| {
        room.name.starts_with(&name)
            && uri.as_ref().is_none_or(|uri| {
                room.message_review_handler
                    .as_ref()
                    .is_some_and(|h| &h.uri == uri)
            })
            && logging.is_none_or(|id| {
                room.logging_configuration_identifiers
                    .iter()
                    .any(|l| l == id)
            })
    };
    let mut items: Vec<(String, serde_json::Value)> = state
        .data
        .chat
        .rooms
        .iter()
        .filter(|(arn, room)| in_scope(arn, &call.scope) && keep(room))
        .map(|(arn, room)| {
            let newest_first = u64::MAX - room.update_seq;
            (
                format!("{newest_first:020}{arn}"),
                pick(room, Room::SUMMARY),
            )
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    input.page.output("rooms", items)
}
