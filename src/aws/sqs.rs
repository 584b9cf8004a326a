//! SQS operations: the intake's long poll and deletes, and what `events setup` needs to create
//! the queue and its policy (docs/aws-facts.md §12).

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};

use super::{Aws, AwsError, CallClass, Op, empty, op};

const RECEIVE_MESSAGE: Op = op("ReceiveMessage", CallClass::Sqs);
const DELETE_MESSAGE: Op = op("DeleteMessage", CallClass::Sqs);
const DELETE_MESSAGE_BATCH: Op = op("DeleteMessageBatch", CallClass::Sqs);
const CREATE_QUEUE: Op = op("CreateQueue", CallClass::Sqs);
const GET_QUEUE_ATTRIBUTES: Op = op("GetQueueAttributes", CallClass::Sqs);
const SET_QUEUE_ATTRIBUTES: Op = op("SetQueueAttributes", CallClass::Sqs);

/// SQS's bounds: at most 10 messages per receive and per delete batch, a long poll of at most
/// 20 s.
pub const MAX_MESSAGES: i32 = 10;
pub const MAX_WAIT_SECS: u64 = 20;

/// One message received.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    pub message_id: String,
    /// What deletes it (the latest receive's handle; an older one may not delete).
    pub receipt_handle: String,
    pub body: String,
    /// How many times SQS has handed it out, this time included.
    pub receive_count: u32,
}

impl Aws {
    /// Long-polls up to `max` (≤ 10) messages, waiting up to `wait` (≤ 20 s) for the first one;
    /// received messages stay invisible to other readers for `visibility`. The call's own
    /// timeouts are the usual ones plus the wait, so a long poll is never cut short by them
    /// (docs/aws-facts.md §10c).
    pub async fn receive_messages(
        &self,
        queue_url: &str,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<QueueMessage>, AwsError> {
        let wait = wait.min(Duration::from_secs(MAX_WAIT_SECS));
        let request = self
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(max.clamp(1, MAX_MESSAGES))
            .wait_time_seconds(wait.as_secs() as i32)
            .visibility_timeout(visibility.as_secs().min(43_200) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize()
            .config_override(
                aws_sdk_sqs::config::Builder::default()
                    .timeout_config(self.timeouts.long_poll(wait)),
            );
        let out = self.call(RECEIVE_MESSAGE, request.send()).await?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                Some(QueueMessage {
                    message_id: m.message_id?,
                    receipt_handle: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                    receive_count,
                })
            })
            .collect())
    }

    /// Deletes one message.
    pub async fn delete_message(
        &self,
        queue_url: &str,
        receipt_handle: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .sqs
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle);
        self.call(DELETE_MESSAGE, request.send()).await.map(drop)
    }

    /// Deletes up to 10 messages, each named by its message id and receipt handle; returns the
    /// ids SQS did not delete (a batch answers 200 with per-entry failures).
    pub async fn delete_messages(
        &self,
        queue_url: &str,
        messages: &[(&str, &str)],
    ) -> Result<Vec<String>, AwsError> {
        if messages.is_empty() {
            return Ok(vec![]);
        }
        // Entry ids must be unique and at most 80 of [A-Za-z0-9_-]: the position is.
        let entries = messages
            .iter()
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(*handle)
                    .build()
                    .ok()
            })
            .collect();
        let request = self
            .sqs
            .delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries));
        let out = self.call(DELETE_MESSAGE_BATCH, request.send()).await?;
        Ok(out
            .failed
            .into_iter()
            .filter_map(|f| f.id.parse::<usize>().ok())
            .filter_map(|i| messages.get(i).map(|(id, _)| (*id).to_owned()))
            .collect())
    }

    /// Creates the queue, or returns the URL of the one that exists with the same attributes
    /// (CreateQueue is idempotent then).
    pub async fn create_queue(&self, name: &str) -> Result<String, AwsError> {
        let request = self.sqs.create_queue().queue_name(name);
        let out = self.call(CREATE_QUEUE, request.send()).await?;
        out.queue_url.ok_or_else(|| empty(CREATE_QUEUE))
    }

    /// The queue's `QueueArn` and `Policy` (absent when it has none).
    pub async fn queue_arn_and_policy(
        &self,
        queue_url: &str,
    ) -> Result<(String, Option<String>), AwsError> {
        let request = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::Policy);
        let out = self.call(GET_QUEUE_ATTRIBUTES, request.send()).await?;
        let mut attributes = out.attributes.unwrap_or_default();
        let arn = attributes
            .remove(&QueueAttributeName::QueueArn)
            .ok_or_else(|| empty(GET_QUEUE_ATTRIBUTES))?;
        Ok((arn, attributes.remove(&QueueAttributeName::Policy)))
    }

    /// Sets the queue's `Policy` attribute (replacing the whole policy).
    pub async fn set_queue_policy(&self, queue_url: &str, policy: &str) -> Result<(), AwsError> {
        let attributes = HashMap::from([(QueueAttributeName::Policy, policy.to_owned())]);
        let request = self
            .sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .set_attributes(Some(attributes));
        self.call(SET_QUEUE_ATTRIBUTES, request.send())
            .await
            .map(drop)
    }
}
