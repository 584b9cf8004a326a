//! Message operations: send, receive (visibility timeout, receipt handles, redrive to a dead-letter
//! queue, the attributes asked for), delete (alone and in batches) and visibility changes. A
//! receipt handle names the queue, the message and one receive; only the latest one counts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{input, invalid, json, missing, queue_mut};
use crate::call::Call;
use crate::model::State;
use crate::model::sqs::{Message, Queue};
use crate::validate;
use crate::wire::{ApiError, OpResult, md5_hex};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SendInput {
    queue_url: Option<String>,
    message_body: Option<String>,
    delay_seconds: Option<i64>,
    #[serde(default)]
    message_attributes: Value,
}

pub fn send(state: &mut State, call: &Call) -> OpResult {
    let input: SendInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let body = input
        .message_body
        .filter(|b| !b.is_empty())
        .ok_or_else(|| missing("MessageBody"))?;
    let max = queue.int_attribute("MaximumMessageSize");
    if i64::try_from(body.len()).unwrap_or(i64::MAX) > max {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
        )));
    }
    if let Some(delay) = input.delay_seconds {
        validate::in_range("DelaySeconds", delay, 0, 900).map_err(|e| invalid(e.message))?;
    }
    let delay = input.delay_seconds.map(|d| d.unsigned_abs());
    let message = push(queue, body, input.message_attributes, delay, Instant::now());
    json(json!({ "MessageId": message.id, "MD5OfMessageBody": message.md5 }))
}

/// Appends a message (visible after `delay`, or the queue's DelaySeconds) and returns it.
pub fn push(
    queue: &mut Queue,
    body: String,
    attributes: Value,
    delay: Option<u64>,
    now: Instant,
) -> Message {
    let delay = delay.unwrap_or_else(|| queue.int_attribute("DelaySeconds").unsigned_abs());
    let message = Message {
        id: uuid::Uuid::new_v4().to_string(),
        md5: md5_hex(body.as_bytes()),
        body,
        message_attributes: attributes,
        sent_ms: now_ms(),
        first_receive_ms: None,
        receive_count: 0,
        visible_at: now + Duration::from_secs(delay),
        receipt: None,
    };
    queue.messages.push_back(message.clone());
    message
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveInput {
    queue_url: Option<String>,
    max_number_of_messages: Option<i64>,
    wait_time_seconds: Option<i64>,
    visibility_timeout: Option<i64>,
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    message_system_attribute_names: Vec<String>,
    #[serde(default)]
    message_attribute_names: Vec<String>,
}

fn check_range(field: &str, value: i64, min: i64, max: i64) -> Result<(), ApiError> {
    if (min..=max).contains(&value) {
        return Ok(());
    }
    Err(invalid(format!(
        "Value {value} for parameter {field} is invalid. Reason: Must be between {min} and {max}, if provided."
    )))
}

/// How long a ReceiveMessage may wait: WaitTimeSeconds (0–20), else the queue's default.
pub fn wait_seconds(state: &mut State, call: &Call) -> Result<u64, ApiError> {
    let input: ReceiveInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let wait = match input.wait_time_seconds {
        Some(wait) => wait,
        None => queue.int_attribute("ReceiveMessageWaitTimeSeconds"),
    };
    check_range("WaitTimeSeconds", wait, 0, 20)?;
    Ok(wait.unsigned_abs())
}

pub fn receive(state: &mut State, call: &Call) -> OpResult {
    let input: ReceiveInput = input(call)?;
    let max = input.max_number_of_messages.unwrap_or(1);
    check_range("MaxNumberOfMessages", max, 1, 10)?;
    if let Some(wait) = input.wait_time_seconds {
        check_range("WaitTimeSeconds", wait, 0, 20)?;
    }
    if let Some(timeout) = input.visibility_timeout {
        check_range("VisibilityTimeout", timeout, 0, 43_200)?;
    }
    let now = Instant::now();
    redrive(state, call, input.queue_url.as_deref(), now)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let timeout = input
        .visibility_timeout
        .unwrap_or_else(|| queue.int_attribute("VisibilityTimeout"))
        .unsigned_abs();
    let system: Vec<&String> = input
        .attribute_names
        .iter()
        .chain(&input.message_system_attribute_names)
        .collect();
    let mut out = Vec::new();
    for message in queue
        .messages
        .iter_mut()
        .filter(|m| m.visible_at <= now)
        .take(usize::try_from(max).unwrap_or(1))
    {
        message.receive_count += 1;
        message.first_receive_ms.get_or_insert_with(now_ms);
        message.visible_at = now + Duration::from_secs(timeout);
        let handle = receipt_handle(&queue.name, &message.id);
        message.receipt = Some(handle.clone());
        out.push(render(
            message,
            &handle,
            &system,
            !input.message_attribute_names.is_empty(),
        ));
    }
    if out.is_empty() {
        return json(json!({}));
    }
    json(json!({ "Messages": out }))
}

fn render(message: &Message, handle: &str, system: &[&String], with_attributes: bool) -> Value {
    let mut out = json!({
        "MessageId": message.id,
        "ReceiptHandle": handle,
        "MD5OfBody": message.md5,
        "Body": message.body,
    });
    let all = system.iter().any(|n| *n == "All");
    let available = [
        ("ApproximateReceiveCount", message.receive_count.to_string()),
        ("SentTimestamp", message.sent_ms.to_string()),
        (
            "ApproximateFirstReceiveTimestamp",
            message.first_receive_ms.unwrap_or_default().to_string(),
        ),
        ("SenderId", "AIDAIENQZJOLO23YVJ4VO".to_owned()),
    ];
    let attributes: Map<String, Value> = available
        .into_iter()
        .filter(|(name, _)| all || system.iter().any(|n| n == name))
        .map(|(name, value)| (name.to_owned(), Value::String(value)))
        .collect();
    if !attributes.is_empty() {
        out["Attributes"] = Value::Object(attributes);
    }
    if with_attributes && message.message_attributes.is_object() {
        out["MessageAttributes"] = message.message_attributes.clone();
    }
    out
}

/// Moves visible messages received `maxReceiveCount` times to the dead-letter queue, as SQS does
/// when a consumer keeps failing on them.
fn redrive(
    state: &mut State,
    call: &Call,
    url: Option<&str>,
    now: Instant,
) -> Result<(), ApiError> {
    let queue = queue_mut(state, call, url)?;
    let Some(policy) = queue
        .attributes
        .get("RedrivePolicy")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return Ok(());
    };
    let limit = policy["maxReceiveCount"]
        .as_u64()
        .or_else(|| policy["maxReceiveCount"].as_str()?.parse().ok())
        .unwrap_or(u64::MAX);
    let Some(target) = policy["deadLetterTargetArn"].as_str().map(str::to_owned) else {
        return Ok(());
    };
    let exhausted = |m: &Message| m.visible_at <= now && u64::from(m.receive_count) >= limit;
    if !queue.messages.iter().any(exhausted) {
        return Ok(());
    }
    let (dead, kept): (Vec<Message>, Vec<Message>) =
        queue.messages.drain(..).partition(|m| exhausted(m));
    queue.messages = kept.into();
    if let Some(dlq) = state.data.queues.get_mut(&target) {
        for mut message in dead {
            message.visible_at = now;
            message.receipt = None;
            dlq.messages.push_back(message);
        }
    }
    Ok(())
}

fn receipt_handle(queue: &str, message_id: &str) -> String {
    let nonce = hex::encode(rand::random::<[u8; 12]>());
    URL_SAFE_NO_PAD.encode(format!("{queue}\n{message_id}\n{nonce}"))
}

/// The message id a well-formed handle for `queue` names, or ReceiptHandleIsInvalid.
fn handle_message_id(queue: &str, handle: &str) -> Result<String, ApiError> {
    let invalid_handle = || {
        ApiError::new(
            "ReceiptHandleIsInvalid",
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    };
    let raw = URL_SAFE_NO_PAD
        .decode(handle)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid_handle)?;
    let mut parts = raw.split('\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(q), Some(id), Some(_)) if q == queue => Ok(id.to_owned()),
        _ => Err(invalid_handle()),
    }
}

/// Deletes the message if `handle` is its latest receipt. A stale handle (the message was received
/// again since) or an already deleted message succeeds without effect, as in SQS.
fn delete_one(queue: &mut Queue, handle: &str) -> Result<(), ApiError> {
    let id = handle_message_id(&queue.name, handle)?;
    queue
        .messages
        .retain(|m| !(m.id == id && m.receipt.as_deref() == Some(handle)));
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteInput {
    queue_url: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

pub fn delete(state: &mut State, call: &Call) -> OpResult {
    let input: DeleteInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let handle = input
        .receipt_handle
        .ok_or_else(|| missing("ReceiptHandle"))?;
    delete_one(queue, &handle)?;
    json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchEntry {
    id: Option<String>,
    receipt_handle: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchInput {
    queue_url: Option<String>,
    #[serde(default)]
    entries: Vec<BatchEntry>,
}

pub fn delete_batch(state: &mut State, call: &Call) -> OpResult {
    let input: BatchInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    check_batch(&input.entries)?;
    let (mut successful, mut failed) = (Vec::new(), Vec::new());
    for entry in input.entries {
        let id = entry.id.unwrap_or_default();
        let result = entry
            .receipt_handle
            .ok_or_else(|| missing("ReceiptHandle"))
            .and_then(|handle| delete_one(queue, &handle));
        match result {
            Ok(()) => successful.push(json!({ "Id": id })),
            Err(err) => failed.push(json!({
                "Id": id, "SenderFault": true, "Code": err.code, "Message": err.message,
            })),
        }
    }
    json(json!({ "Successful": successful, "Failed": failed }))
}

/// 1–10 entries with distinct ids of 1–80 `[A-Za-z0-9_-]`.
fn check_batch(entries: &[BatchEntry]) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Err(ApiError::new(
            "EmptyBatchRequest",
            "There should be at least one DeleteMessageBatchRequestEntry in the request.",
        ));
    }
    if entries.len() > 10 {
        return Err(ApiError::new(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = HashSet::new();
    for entry in entries {
        let id = entry.id.as_deref().unwrap_or_default();
        let ok = (1..=80).contains(&id.len())
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(ApiError::new(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.",
            ));
        }
        if !seen.insert(id) {
            return Err(ApiError::new(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(())
}

pub fn change_visibility(state: &mut State, call: &Call) -> OpResult {
    let input: DeleteInput = input(call)?;
    let queue = queue_mut(state, call, input.queue_url.as_deref())?;
    let handle = input
        .receipt_handle
        .ok_or_else(|| missing("ReceiptHandle"))?;
    let timeout = input
        .visibility_timeout
        .ok_or_else(|| missing("VisibilityTimeout"))?;
    check_range("VisibilityTimeout", timeout, 0, 43_200)?;
    let id = handle_message_id(&queue.name, &handle)?;
    let now = Instant::now();
    let message = queue
        .messages
        .iter_mut()
        .find(|m| m.id == id && m.receipt.as_deref() == Some(handle.as_str()))
        .ok_or_else(|| {
            invalid(format!(
                "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
            ))
        })?;
    if message.visible_at <= now {
        return Err(ApiError::new(
            "MessageNotInflight",
            "The message referred to isn't in flight.",
        ));
    }
    message.visible_at = now + Duration::from_secs(timeout.unsigned_abs());
    json(json!({}))
}
