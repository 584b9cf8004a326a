//! TagResource / UntagResource / ListTagsForResource for IVS Chat rooms and logging
//! configurations: IVS's tag operations (same rules, 50 tags) with IVS Chat's ARN lookup.

use super::{not_found, parse_arn};
use crate::call::Call;
use crate::ivs::tags::{list_with, tag_with, untag_with};
use crate::model::{Data, State};
use crate::validate::Tags;
use crate::wire::{ApiError, OpResult};

fn tags_of<'a>(data: &'a mut Data, call: &Call) -> Result<&'a mut Tags, ApiError> {
    let arn = call.resource_arn.clone().unwrap_or_default();
    if parse_arn(&arn).is_none() {
        return Err(ApiError::validation(format!(
            "resourceArn is not a valid ARN: '{arn}'"
        )));
    }
    let chat = &mut data.chat;
    let found = if !super::in_scope(&arn, &call.scope) {
        None
    } else if let Some(room) = chat.rooms.get_mut(&arn) {
        Some(&mut room.tags)
    } else {
        chat.logging_configurations
            .get_mut(&arn)
            .map(|config| &mut config.tags)
    };
    found.ok_or_else(|| not_found(&arn))
}

pub fn tag(state: &mut State, call: &Call) -> OpResult {
    tag_with(state, call, tags_of)
}

pub fn untag(state: &mut State, call: &Call) -> OpResult {
    untag_with(state, call, tags_of)
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    list_with(state, call, tags_of)
}
