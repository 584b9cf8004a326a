//! Logging configurations: one destination each (S3 bucket, CloudWatch Logs group or Firehose
//! stream), ACTIVE at once (the model's create/update states have no other value), a regional
//! quota, and no delete while a room still uses one (ConflictException).

use serde::Deserialize;
use serde_json::{Value, json};

use super::model::LoggingConfiguration;
use super::{
    Fields, Page, find, find_mut, identified, in_scope, input, new_arn, now_iso, reply,
    resource_error,
};
use crate::call::Call;
use crate::ids::arn_id;
use crate::model::State;
use crate::validate::Tags;
use crate::wire::{ApiError, OpResult, Output};

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ConfigInput {
    identifier: Option<String>,
    name: Option<String>,
    destination_configuration: Option<Value>,
    tags: Option<Tags>,
}

/// (member, field inside it, max length, allowed punctuation besides ASCII letters and digits).
const DESTINATIONS: &[(&str, &str, usize, &str)] = &[
    ("s3", "bucketName", 63, "-."),
    ("cloudWatchLogs", "logGroupName", 512, ".-_/#"),
    ("firehose", "deliveryStreamName", 64, "_.-"),
];

/// `destinationConfiguration`: a union, so exactly one member, whose name field matches the
/// model (`BucketName` 3–63 of `[a-z0-9-.]`, `LogGroupName` 1–512, `DeliveryStreamName` 1–64).
fn destination(fields: &mut Fields, destination: Option<&Value>) {
    let Some(destination) = destination else {
        return;
    };
    let members: Vec<&(&str, &str, usize, &str)> = DESTINATIONS
        .iter()
        .filter(|(member, ..)| destination.get(member).is_some_and(|v| !v.is_null()))
        .collect();
    let field = "destinationConfiguration";
    let [(member, key, max, punctuation)] = members.as_slice() else {
        fields.fail(
            field,
            "must set exactly one of s3, cloudWatchLogs, firehose",
        );
        return;
    };
    let name = destination[*member][*key].as_str().unwrap_or_default();
    let min = if *member == "s3" { 3 } else { 1 };
    let lowercase_only = *member == "s3";
    let chars_ok = name.chars().all(|c| {
        c.is_ascii_digit()
            || c.is_ascii_lowercase()
            || (c.is_ascii_uppercase() && !lowercase_only)
            || punctuation.contains(c)
    });
    if !(min..=*max).contains(&name.len()) || !chars_ok {
        fields.fail(
            &format!("{field}.{member}.{key}"),
            format!("'{name}' must be {min}-{max} characters of [a-zA-Z0-9{punctuation}] (bucket names lowercase)"),
        );
    }
}

fn checked(call: &Call, require_destination: bool) -> Result<ConfigInput, ApiError> {
    let input: ConfigInput = input(call)?;
    let mut fields = Fields::default();
    if require_destination {
        fields.required(
            "destinationConfiguration",
            input.destination_configuration.as_ref(),
        );
    } else {
        fields.identifier(input.identifier.as_deref(), "logging-configuration");
    }
    fields.name("name", input.name.as_deref());
    destination(&mut fields, input.destination_configuration.as_ref());
    fields.tags("tags", input.tags.as_ref());
    fields.check()?;
    Ok(input)
}

/// Only the destination member that is set, as the wire shows it.
fn normalized(destination: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (member, ..) in DESTINATIONS {
        if let Some(value) = destination.get(member).filter(|v| !v.is_null()) {
            out.insert((*member).to_owned(), value.clone());
        }
    }
    Value::Object(out)
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input = checked(call, true)?;
    let scope = &call.scope;
    let quota = state.config.quotas.chat_logging_configurations;
    let chat = &mut state.data.chat;
    let used = chat
        .logging_configurations
        .keys()
        .filter(|arn| in_scope(arn, scope))
        .count();
    if used >= quota {
        let err = ApiError::quota(format!(
            "Limit of {quota} logging configurations per region reached"
        ))
        .with("limit", json!(quota));
        return Err(resource_error(err, ""));
    }
    let arn = new_arn(scope, "logging-configuration");
    let now = now_iso();
    let config = LoggingConfiguration {
        id: arn_id(&arn).to_owned(),
        name: input.name.unwrap_or_default(),
        create_time: now.clone(),
        update_time: now,
        destination_configuration: normalized(&input.destination_configuration.unwrap_or_default()),
        state: "ACTIVE".into(),
        tags: input.tags.unwrap_or_default(),
        arn,
    };
    let body = json!(config);
    chat.logging_configurations
        .insert(config.arn.clone(), config);
    reply(body)
}

pub fn get(state: &mut State, call: &Call) -> OpResult {
    let arn = identified(call, "logging-configuration")?;
    let config = find(&state.data.chat.logging_configurations, &arn, &call.scope)?;
    reply(json!(config))
}

/// Name and destination only; tags change through TagResource.
pub fn update(state: &mut State, call: &Call) -> OpResult {
    let input = checked(call, false)?;
    let arn = input.identifier.unwrap_or_default();
    let configs = &mut state.data.chat.logging_configurations;
    let config = find_mut(configs, &arn, &call.scope)?;
    if let Some(name) = input.name {
        config.name = name;
    }
    if let Some(destination) = input.destination_configuration {
        config.destination_configuration = normalized(&destination);
    }
    config.update_time = now_iso();
    reply(json!(config))
}

pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let arn = identified(call, "logging-configuration")?;
    let chat = &mut state.data.chat;
    find(&chat.logging_configurations, &arn, &call.scope)?;
    let users = chat
        .rooms
        .values()
        .find(|room| room.logging_configuration_identifiers.contains(&arn));
    if let Some(room) = users {
        let err = ApiError::conflict(format!(
            "Logging configuration is attached to room {}; detach it first",
            room.arn
        ));
        return Err(resource_error(err, &arn));
    }
    chat.logging_configurations.remove(&arn);
    Ok(Output::NoContent)
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let page: Page = input(call)?;
    let items = state
        .data
        .chat
        .logging_configurations
        .iter()
        .filter(|(arn, _)| in_scope(arn, &call.scope))
        .map(|(arn, config)| (arn.clone(), json!(config)))
        .collect();
    page.output("loggingConfigurations", items)
}
