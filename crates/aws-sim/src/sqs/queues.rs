//! Queue operations: create (idempotent for equal attributes), URL lookup, attributes (stored
//! settable ones plus the computed ArN and counts), list, purge (once a minute) and delete.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{input, invalid, json, missing, no_queue, queue_arn, queue_mut};
use crate::call::Call;
use crate::model::State;
use crate::model::sqs::Queue;
use crate::wire::{ApiError, OpResult};

/// A settable attribute: name, SQS's default (empty = none), integer range if numeric.
type Settable = (&'static str, &'static str, Option<(i64, i64)>);

const SETTABLE: &[Settable] = &[
    ("DelaySeconds", "0", Some((0, 900))),
    ("MaximumMessageSize", "262144", Some((1024, 1_048_576))),
    ("MessageRetentionPeriod", "345600", Some((60, 1_209_600))),
    ("ReceiveMessageWaitTimeSeconds", "0", Some((0, 20))),
    ("VisibilityTimeout", "30", Some((0, 43_200))),
    ("Policy", "", None),
    ("RedrivePolicy", "", None),
    ("RedriveAllowPolicy", "", None),
    ("KmsMasterKeyId", "", None),
    ("KmsDataKeyReusePeriodSeconds", "", Some((60, 86_400))),
    ("SqsManagedSseEnabled", "", None),
];

const COMPUTED: &[&str] = &[
    "QueueArn",
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateInput {
    queue_name: Option<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

pub fn create(state: &mut State, call: &Call) -> OpResult {
    let input: CreateInput = input(call)?;
    let name = input.queue_name.ok_or_else(|| missing("QueueName"))?;
    let ok = (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(invalid(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        ));
    }
    check_attributes(&input.attributes)?;
    let arn = queue_arn(&call.scope, &name);
    if let Some(queue) = state.data.queues.get(&arn) {
        if let Some((key, _)) = input
            .attributes
            .iter()
            .find(|(k, v)| queue.attributes.get(*k) != Some(v))
        {
            return Err(ApiError::new(
                "QueueNameExists",
                format!(
                    "A queue already exists with the same name and a different value for attribute {key}"
                ),
            ));
        }
        return json(json!({ "QueueUrl": queue.url }));
    }
    let now = chrono::Utc::now().timestamp();
    let mut attributes: BTreeMap<String, String> = SETTABLE
        .iter()
        .filter(|(_, default, _)| !default.is_empty())
        .map(|(k, v, _)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    attributes.extend(input.attributes);
    let queue = Queue {
        url: queue_url(call, &name),
        name,
        arn: arn.clone(),
        attributes,
        tags: input.tags,
        created: now,
        last_modified: now,
        messages: VecDeque::new(),
        last_purge: None,
    };
    let body = json!({ "QueueUrl": queue.url });
    state.data.queues.insert(arn, queue);
    json(body)
}

/// `http://<Host>/<account>/<name>` like moto and LocalStack, so the URL also works as an endpoint.
fn queue_url(call: &Call, name: &str) -> String {
    let account = &call.scope.account;
    match call.header("host") {
        Some(host) => format!("http://{host}/{account}/{name}"),
        None => format!(
            "https://sqs.{}.amazonaws.com/{account}/{name}",
            call.scope.region
        ),
    }
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> Result<(), ApiError> {
    for (key, value) in attributes {
        let Some((_, _, range)) = SETTABLE.iter().find(|(k, _, _)| k == key) else {
            return Err(ApiError::new(
                "InvalidAttributeName",
                format!("Unknown Attribute {key}."),
            ));
        };
        if let Some((min, max)) = range {
            let ok = value
                .parse::<i64>()
                .is_ok_and(|v| (*min..=*max).contains(&v));
            if !ok {
                return Err(invalid(format!(
                    "Invalid value for the parameter {key}. Reason: must be an integer between {min} and {max}."
                )));
            }
        }
        if matches!(key.as_str(), "Policy" | "RedrivePolicy") && !value.is_empty() {
            check_json(key, value)?;
        }
    }
    Ok(())
}

fn check_json(key: &str, value: &str) -> Result<(), ApiError> {
    let parsed: Value = serde_json::from_str(value)
        .map_err(|_| invalid(format!("Invalid value for the parameter {key}.")))?;
    if key == "RedrivePolicy" {
        let count = parsed["maxReceiveCount"]
            .as_i64()
            .or_else(|| parsed["maxReceiveCount"].as_str()?.parse().ok());
        let ok = parsed["deadLetterTargetArn"].is_string()
            && count.is_some_and(|c| (1..=1000).contains(&c));
        if !ok {
            return Err(invalid(
                "Value for parameter RedrivePolicy is invalid. Reason: Redrive policy is not a dict or valid JSON, or lacks deadLetterTargetArn and maxReceiveCount (1-1000).",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    queue_name: Option<String>,
    queue_owner_a_w_s_account_id: Option<String>,
}

pub fn get_url(state: &mut State, call: &Call) -> OpResult {
    let input: NameInput = input(call)?;
    let name = input.queue_name.ok_or_else(|| missing("QueueName"))?;
    if input
        .queue_owner_a_w_s_account_id
        .is_some_and(|a| a != call.scope.account)
    {
        return Err(no_queue());
    }
    let queue = state
        .data
        .queues
        .get(&queue_arn(&call.scope, &name))
        .ok_or_else(no_queue)?;
    json(json!({ "QueueUrl": queue.url }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributesInput {
    queue_url: Option<String>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
}

pub fn get_attributes(state: &mut State, call: &Call) -> OpResult {
    let input: AttributesInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let all = input.attribute_names.iter().any(|n| n == "All");
    for name in &input.attribute_names {
        let known = name == "All"
            || COMPUTED.contains(&name.as_str())
            || SETTABLE.iter().any(|(k, _, _)| k == name);
        if !known {
            return Err(ApiError::new(
                "InvalidAttributeName",
                format!("Unknown Attribute {name}."),
            ));
        }
    }
    let everything = all_attributes(queue);
    let wanted: serde_json::Map<String, Value> = everything
        .into_iter()
        .filter(|(k, _)| all || input.attribute_names.contains(k))
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if wanted.is_empty() {
        return json(json!({}));
    }
    json(json!({ "Attributes": wanted }))
}

fn all_attributes(queue: &Queue) -> BTreeMap<String, String> {
    let (visible, in_flight, delayed) = queue.counts(Instant::now());
    let mut out = queue.attributes.clone();
    out.insert("QueueArn".into(), queue.arn.clone());
    out.insert("ApproximateNumberOfMessages".into(), visible.to_string());
    out.insert(
        "ApproximateNumberOfMessagesNotVisible".into(),
        in_flight.to_string(),
    );
    out.insert(
        "ApproximateNumberOfMessagesDelayed".into(),
        delayed.to_string(),
    );
    out.insert("CreatedTimestamp".into(), queue.created.to_string());
    out.insert(
        "LastModifiedTimestamp".into(),
        queue.last_modified.to_string(),
    );
    out
}

pub fn set_attributes(state: &mut State, call: &Call) -> OpResult {
    let input: AttributesInput = input(call)?;
    check_attributes(&input.attributes)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    for (key, value) in input.attributes {
        // SQS removes a policy set to the empty string.
        if value.is_empty() {
            queue.attributes.remove(&key);
        } else {
            queue.attributes.insert(key, value);
        }
    }
    queue.last_modified = chrono::Utc::now().timestamp();
    json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListInput {
    queue_name_prefix: Option<String>,
}

pub fn list(state: &mut State, call: &Call) -> OpResult {
    let input: ListInput = input(call)?;
    let prefix = format!("arn:aws:sqs:{}:{}:", call.scope.region, call.scope.account);
    let urls: Vec<&String> = state
        .data
        .queues
        .values()
        .filter(|q| q.arn.starts_with(&prefix))
        .filter(|q| {
            input
                .queue_name_prefix
                .as_deref()
                .is_none_or(|p| q.name.starts_with(p))
        })
        .map(|q| &q.url)
        .collect();
    json(json!({ "QueueUrls": urls }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UrlInput {
    queue_url: Option<String>,
}

/// SQS allows one purge per queue every 60 seconds.
pub fn purge(state: &mut State, call: &Call) -> OpResult {
    let input: UrlInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let now = Instant::now();
    if queue
        .last_purge
        .is_some_and(|at| now.duration_since(at) < Duration::from_secs(60))
    {
        return Err(ApiError::new(
            "PurgeQueueInProgress",
            format!(
                "Only one PurgeQueue operation on {} is allowed every 60 seconds.",
                queue.name
            ),
        ));
    }
    queue.last_purge = Some(now);
    queue.messages.clear();
    json(json!({}))
}

pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let input: UrlInput = input(call)?;
    let arn = queue_mut(state, call, input.queue_url.as_deref())?
        .arn
        .clone();
    state.data.queues.remove(&arn);
    json(json!({}))
}
