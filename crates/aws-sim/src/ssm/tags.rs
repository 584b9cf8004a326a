//! SSM resource tags (`{Key, Value}` lists on the wire) for parameters: AddTagsToResource,
//! RemoveTagsFromResource, ListTagsForResource.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{input, json};
use crate::call::Call;
use crate::model::State;
use crate::validate::{self, Tags};
use crate::wire::{ApiError, OpResult};

/// SSM allows 50 tags per resource.
const MAX_TAGS: usize = 50;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

pub type TagList = Vec<Tag>;

pub fn to_map(list: TagList) -> Tags {
    list.into_iter().map(|t| (t.key, t.value)).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagInput {
    resource_type: Option<String>,
    resource_id: Option<String>,
    tags: Option<TagList>,
    tag_keys: Option<Vec<String>>,
}

/// The tags of the parameter named by ResourceId (a name or its ARN).
fn tags_of<'a>(
    state: &'a mut State,
    call: &Call,
    input: &TagInput,
) -> Result<&'a mut Tags, ApiError> {
    let kind = input.resource_type.as_deref().unwrap_or_default();
    if kind != "Parameter" {
        return Err(ApiError::new(
            "InvalidResourceType",
            format!("The resource type {kind} is not supported by the simulator"),
        ));
    }
    let id = input.resource_id.as_deref().unwrap_or_default();
    let arn = if id.starts_with("arn:") {
        id.to_owned()
    } else {
        call.scope.ssm_parameter_arn(id)
    };
    let param = state.data.parameters.get_mut(&arn);
    param.map(|p| &mut p.tags).ok_or_else(|| {
        ApiError::new(
            "InvalidResourceId",
            "The resource ID is not valid. Verify that the ID and try again.",
        )
    })
}

pub fn add(state: &mut State, call: &Call) -> OpResult {
    let input: TagInput = input(call)?;
    let new_tags = to_map(input.tags.clone().unwrap_or_default());
    validate::check_tags(&new_tags, MAX_TAGS)?;
    let tags = tags_of(state, call, &input)?;
    let mut merged = tags.clone();
    merged.extend(new_tags);
    if merged.len() > MAX_TAGS {
        return Err(ApiError::new(
            "TooManyTagsError",
            format!("A resource can have at most {MAX_TAGS} tags."),
        ));
    }
    *tags = merged;
    json(json!({}))
}

pub fn remove(state: &mut State, call: &Call) -> OpResult {
    let input: TagInput = input(call)?;
    let keys = input.tag_keys.clone().unwrap_or_default();
    tags_of(state, call, &input)?.retain(|key, _| !keys.contains(key));
    json(json!({}))
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: TagInput = input(call)?;
    let tags = tags_of(state, call, &input)?;
    let list: TagList = tags
        .iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect();
    json(json!({ "TagList": list }))
}
