//! TagResource / UntagResource / ListTagsForResource on `/tags/{resourceArn}` for every taggable
//! IVS resource (channel, stream key, playback key pair, recording configuration). The three
//! operations take the resource lookup as a parameter, so IVS Chat serves its tags with them too.

use serde::Deserialize;
use serde_json::json;

use super::{in_scope, input, json};
use crate::call::Call;
use crate::ids::parse_ivs_arn;
use crate::model::{Data, State};
use crate::validate::{self, Tags};
use crate::wire::{ApiError, OpResult, query_pairs};

/// The tags of the resource named by the path label, or 400 (malformed) / 404 (missing).
fn tags_of<'a>(data: &'a mut Data, call: &Call) -> Result<&'a mut Tags, ApiError> {
    let arn = call.resource_arn.clone().unwrap_or_default();
    if parse_ivs_arn(&arn).is_none() {
        return Err(ApiError::validation(format!(
            "resourceArn is not a valid ARN: '{arn}'"
        )));
    }
    let found = if !in_scope(&arn, &call.scope) {
        None
    } else if let Some(c) = data.channels.get_mut(&arn) {
        Some(&mut c.tags)
    } else if let Some(k) = data.stream_keys.get_mut(&arn) {
        Some(&mut k.tags)
    } else if let Some(k) = data.playback_key_pairs.get_mut(&arn) {
        Some(&mut k.tags)
    } else {
        data.recording_configurations
            .get_mut(&arn)
            .map(|r| &mut r.tags)
    };
    found.ok_or_else(|| ApiError::not_found(&arn))
}

#[derive(Deserialize)]
struct TagInput {
    tags: Option<Tags>,
}

/// Finds the tags of the resource a tag call names: 400 when malformed, 404 when missing.
pub type TagsOf = for<'a> fn(&'a mut Data, &Call) -> Result<&'a mut Tags, ApiError>;

pub fn tag(state: &mut State, call: &Call) -> OpResult {
    tag_with(state, call, tags_of)
}

pub fn untag(state: &mut State, call: &Call) -> OpResult {
    untag_with(state, call, tags_of)
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    list_with(state, call, tags_of)
}

pub fn tag_with(state: &mut State, call: &Call, tags_of: TagsOf) -> OpResult {
    let new_tags = input::<TagInput>(call)?
        .tags
        .ok_or_else(|| ApiError::validation("tags is required"))?;
    // Bad input is a 400 before any lookup (even on a missing resource), as in the other
    // handlers; the merged map is checked again only for the per-resource count.
    validate::ivs_tags(&new_tags)?;
    let tags = tags_of(&mut state.data, call)?;
    let mut merged = tags.clone();
    merged.extend(new_tags);
    validate::ivs_tags(&merged)?;
    *tags = merged;
    json(json!({}))
}

pub fn untag_with(state: &mut State, call: &Call, tags_of: TagsOf) -> OpResult {
    let keys: Vec<String> = query_pairs(call.query.as_deref())
        .into_iter()
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v)
        .collect();
    if keys.is_empty() || keys.len() > 50 {
        return Err(ApiError::validation(
            "tagKeys must contain between 1 and 50 keys",
        ));
    }
    if keys
        .iter()
        .any(|k| k.to_ascii_lowercase().starts_with("aws:"))
    {
        return Err(ApiError::validation(
            "Tag keys with the reserved prefix 'aws:' cannot be removed",
        ));
    }
    for key in &keys {
        validate::ivs_tag_key(key)?;
    }
    let tags = tags_of(&mut state.data, call)?;
    tags.retain(|key, _| !keys.contains(key));
    json(json!({}))
}

pub fn list_with(state: &mut State, call: &Call, tags_of: TagsOf) -> OpResult {
    let tags = tags_of(&mut state.data, call)?;
    json(json!({ "tags": tags }))
}
