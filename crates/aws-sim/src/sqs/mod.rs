//! Amazon SQS (awsJson1.0, `X-Amz-Target: AmazonSQS.<Op>`): dispatch, queue lookup by URL, and
//! the entry point EventBridge uses to deliver to a queue. Queues in `queues`, messages in
//! `messages`; long polling lives in `Simulator` because it waits outside the state lock.

mod messages;
mod policy;
mod queues;

use std::collections::BTreeMap;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::call::Call;
use crate::ids::Scope;
use crate::model::State;
use crate::model::sqs::Queue;
use crate::wire::{ApiError, OpResult, Output, Protocol, parse_body};

pub use messages::wait_seconds;
pub use policy::allows_events;

/// Runs one SQS operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    match call.op.as_str() {
        "CreateQueue" => queues::create(state, call),
        "GetQueueUrl" => queues::get_url(state, call),
        "GetQueueAttributes" => queues::get_attributes(state, call),
        "SetQueueAttributes" => queues::set_attributes(state, call),
        "ListQueues" => queues::list(state, call),
        "PurgeQueue" => queues::purge(state, call),
        "DeleteQueue" => queues::delete(state, call),
        "SendMessage" => messages::send(state, call),
        "ReceiveMessage" => messages::receive(state, call),
        "DeleteMessage" => messages::delete(state, call),
        "DeleteMessageBatch" => messages::delete_batch(state, call),
        "ChangeMessageVisibility" => messages::change_visibility(state, call),
        _ => Err(ApiError::new(
            "UnsupportedOperation",
            format!("Operation {} is not supported by the simulator", call.op),
        )),
    }
}

fn input<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    parse_body(&call.body, Protocol::AwsJson10)
}

fn json(value: Value) -> OpResult {
    Ok(Output::Json(value))
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidParameterValue", message)
}

fn missing(field: &str) -> ApiError {
    ApiError::new(
        "MissingParameter",
        format!("The request must contain the parameter {field}."),
    )
}

fn no_queue() -> ApiError {
    ApiError::new("QueueDoesNotExist", "The specified queue does not exist.")
}

pub fn queue_arn(scope: &Scope, name: &str) -> String {
    format!("arn:aws:sqs:{}:{}:{name}", scope.region, scope.account)
}

/// The queue a URL names (`…/<account>/<name>`, any host: SQS routes on the path), in the
/// caller's region.
fn arn_of_url(scope: &Scope, url: &str) -> Option<String> {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next()?;
    let account = parts.next()?;
    (account == scope.account).then(|| queue_arn(scope, name))
}

fn queue_mut<'a>(
    state: &'a mut State,
    call: &Call,
    url: Option<&str>,
) -> Result<&'a mut Queue, ApiError> {
    let url = url.ok_or_else(|| missing("QueueUrl"))?;
    let arn = arn_of_url(&call.scope, url).ok_or_else(no_queue)?;
    state.data.queues.get_mut(&arn).ok_or_else(no_queue)
}

/// Enqueues `body` on the queue `arn` (EventBridge's SQS target). False if there is no such queue.
pub fn enqueue(queues: &mut BTreeMap<String, Queue>, arn: &str, body: String) -> bool {
    let Some(queue) = queues.get_mut(arn) else {
        return false;
    };
    messages::push(queue, body, Value::Null, None, Instant::now());
    true
}
