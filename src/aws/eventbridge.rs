//! EventBridge operations for `events setup`: the rule that routes IVS's events and its SQS
//! target, read first so that setting up twice changes nothing (docs/aws-facts.md §13).

use aws_sdk_eventbridge::types::{RuleState, Target};

use super::{Aws, AwsError, AwsErrorKind, CallClass, Op, empty, op};

const PUT_RULE: Op = op("PutRule", CallClass::EventBridge);
const DESCRIBE_RULE: Op = op("DescribeRule", CallClass::EventBridge);
const PUT_TARGETS: Op = op("PutTargets", CallClass::EventBridge);
const LIST_TARGETS_BY_RULE: Op = op("ListTargetsByRule", CallClass::EventBridge);

/// A rule on the default bus as DescribeRule reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub arn: String,
    pub event_pattern: Option<String>,
    pub enabled: bool,
}

impl Aws {
    /// The rule `name` on the default bus, `None` when there is none.
    pub async fn describe_rule(&self, name: &str) -> Result<Option<RuleInfo>, AwsError> {
        let request = self.events.describe_rule().name(name);
        match self.call(DESCRIBE_RULE, request.send()).await {
            Ok(out) => Ok(Some(RuleInfo {
                arn: out.arn.ok_or_else(|| empty(DESCRIBE_RULE))?,
                event_pattern: out.event_pattern,
                enabled: out.state == Some(RuleState::Enabled),
            })),
            Err(e) if e.kind == AwsErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates or replaces the enabled rule `name` with `pattern` on the default bus; returns
    /// its ARN.
    pub async fn put_rule(
        &self,
        name: &str,
        pattern: &str,
        description: &str,
    ) -> Result<String, AwsError> {
        let request = self
            .events
            .put_rule()
            .name(name)
            .event_pattern(pattern)
            .description(description)
            .state(RuleState::Enabled);
        let out = self.call(PUT_RULE, request.send()).await?;
        out.rule_arn.ok_or_else(|| empty(PUT_RULE))
    }

    /// The rule's targets as (id, ARN).
    pub async fn list_targets_by_rule(
        &self,
        rule: &str,
    ) -> Result<Vec<(String, String)>, AwsError> {
        super::all_pages(|next| async move {
            let request = self
                .events
                .list_targets_by_rule()
                .rule(rule)
                .set_next_token(next);
            let page = self.call(LIST_TARGETS_BY_RULE, request.send()).await?;
            let targets = page
                .targets
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.id, t.arn))
                .collect();
            Ok((targets, page.next_token))
        })
        .await
    }

    /// Adds (or replaces) the target `id` sending the whole event to `arn`. A target EventBridge
    /// refuses is an error although the call answers 200.
    pub async fn put_target(&self, rule: &str, id: &str, arn: &str) -> Result<(), AwsError> {
        let target = Target::builder()
            .id(id)
            .arn(arn)
            .build()
            .map_err(|e| refused("InvalidTarget", e.to_string()))?;
        let request = self.events.put_targets().rule(rule).targets(target);
        let out = self.call(PUT_TARGETS, request.send()).await?;
        match out.failed_entries.unwrap_or_default().into_iter().next() {
            Some(failed) if out.failed_entry_count > 0 => Err(refused(
                &failed.error_code.unwrap_or_default(),
                failed.error_message.unwrap_or_default(),
            )),
            _ => Ok(()),
        }
    }
}

/// A target EventBridge refused: permanent, with its code.
fn refused(code: &str, message: String) -> AwsError {
    AwsError {
        operation: PUT_TARGETS.name,
        code: code.to_owned(),
        message,
        status: None,
        class: super::ErrorClass::Permanent,
        kind: AwsErrorKind::Other,
        retry_after: None,
    }
}
