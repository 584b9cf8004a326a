//! `events setup`: the SQS queue, its policy letting the EventBridge rule (and only it) send,
//! the rule matching IVS's channel events on the default bus, and the rule's SQS target. Each
//! is read before it is written, so running it again changes nothing and says so.

use crate::aws::{Aws, AwsError};
use crate::domain::event_routing::{
    TARGET_ID, event_pattern, is_our_pattern, policy_allows, queue_policy,
};

const RULE_DESCRIPTION: &str =
    "IVS channel events for ivs-provisioner (stream state and health, recordings, limit breaches)";

/// What `events setup` found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub queue_url: String,
    pub queue_arn: String,
    pub rule_arn: String,
    /// What had to be written (`rule`, `queue policy`, `target`); empty when all was in place.
    pub changed: Vec<&'static str>,
}

/// Creates (or finds) the queue `queue_name`, the rule `rule_name` and what joins them.
pub async fn setup(aws: &Aws, queue_name: &str, rule_name: &str) -> Result<SetupReport, AwsError> {
    let mut changed = Vec::new();
    let queue_url = aws.create_queue(queue_name).await?;
    let (queue_arn, policy) = aws.queue_arn_and_policy(&queue_url).await?;
    let rule_arn = match aws.describe_rule(rule_name).await? {
        Some(rule) if rule.enabled && is_our_pattern(rule.event_pattern.as_deref()) => rule.arn,
        _ => {
            changed.push("rule");
            let pattern = event_pattern().to_string();
            aws.put_rule(rule_name, &pattern, RULE_DESCRIPTION).await?
        }
    };
    if !policy_allows(policy.as_deref(), &queue_arn, &rule_arn) {
        changed.push("queue policy");
        let policy = queue_policy(policy.as_deref(), &queue_arn, &rule_arn);
        aws.set_queue_policy(&queue_url, &policy.to_string())
            .await?;
    }
    let targets = aws.list_targets_by_rule(rule_name).await?;
    if !targets
        .iter()
        .any(|(id, arn)| id == TARGET_ID && *arn == queue_arn)
    {
        changed.push("target");
        aws.put_target(rule_name, TARGET_ID, &queue_arn).await?;
    }
    Ok(SetupReport {
        queue_url,
        queue_arn,
        rule_arn,
        changed,
    })
}
