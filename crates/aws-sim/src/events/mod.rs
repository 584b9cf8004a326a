//! Amazon EventBridge (awsJson1.1, `X-Amz-Target: AWSEvents.<Op>`) on the default bus: rules with
//! event patterns, SQS targets, and PutEvents. How events travel (chaos, routing) is in `bus`;
//! pattern matching in `pattern`.

mod bus;
mod pattern;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use bus::{envelope, flush, publish, release_due, set_faults};

use crate::call::Call;
use crate::model::State;
use crate::model::events::{Rule, Target};
use crate::wire::{ApiError, OpResult, Output, Protocol, parse_body};

/// Runs one EventBridge operation against `state`.
pub fn handle(state: &mut State, call: &Call) -> OpResult {
    match call.op.as_str() {
        "PutRule" => put_rule(state, call),
        "DescribeRule" => describe_rule(state, call),
        "DeleteRule" => delete_rule(state, call),
        "ListRules" => list_rules(state, call),
        "PutTargets" => put_targets(state, call),
        "RemoveTargets" => remove_targets(state, call),
        "ListTargetsByRule" => list_targets(state, call),
        "PutEvents" => put_events(state, call),
        _ => Err(ApiError::new(
            "UnknownOperationException",
            format!("Operation {} is not supported by the simulator", call.op),
        )),
    }
}

fn input<T: DeserializeOwned>(call: &Call) -> Result<T, ApiError> {
    parse_body(&call.body, Protocol::AwsJson11)
}

fn json(value: Value) -> OpResult {
    Ok(Output::Json(value))
}

fn rule_arn(call: &Call, name: &str) -> String {
    format!(
        "arn:aws:events:{}:{}:rule/{name}",
        call.scope.region, call.scope.account
    )
}

fn no_rule(name: &str) -> ApiError {
    ApiError::new(
        "ResourceNotFoundException",
        format!("Rule {name} does not exist on EventBus default."),
    )
}

/// Only the default bus exists.
fn check_bus(bus: Option<&str>) -> Result<(), ApiError> {
    match bus {
        None | Some("default") => Ok(()),
        Some(other) if other.ends_with(":event-bus/default") => Ok(()),
        Some(other) => Err(ApiError::new(
            "ResourceNotFoundException",
            format!("Event bus {other} does not exist."),
        )),
    }
}

fn rule_mut<'a>(
    state: &'a mut State,
    call: &Call,
    name: Option<&str>,
) -> Result<&'a mut Rule, ApiError> {
    let name = name.ok_or_else(|| ApiError::validation("Rule name is required"))?;
    state
        .data
        .events
        .rules
        .get_mut(&rule_arn(call, name))
        .ok_or_else(|| no_rule(name))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutRuleInput {
    name: Option<String>,
    event_pattern: Option<String>,
    schedule_expression: Option<String>,
    state: Option<String>,
    description: Option<String>,
    event_bus_name: Option<String>,
}

fn put_rule(state: &mut State, call: &Call) -> OpResult {
    let input: PutRuleInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    let name = input.name.unwrap_or_default();
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !ok {
        return Err(ApiError::validation(
            "Rule name must be 1-64 characters of [.\\-_A-Za-z0-9]",
        ));
    }
    if input.schedule_expression.is_some() {
        return Err(ApiError::validation(
            "ScheduleExpression is not supported by the simulator",
        ));
    }
    let text = input.event_pattern.ok_or_else(|| {
        ApiError::validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    })?;
    let parsed: Value = serde_json::from_str(&text)
        .ok()
        .filter(pattern::valid)
        .ok_or_else(|| {
            ApiError::new(
                "InvalidEventPatternException",
                "Event pattern is not valid.",
            )
        })?;
    let rule_state = input.state.unwrap_or_else(|| "ENABLED".into());
    crate::validate::one_of("State", &rule_state, &["ENABLED", "DISABLED"])?;
    let arn = rule_arn(call, &name);
    let targets = state
        .data
        .events
        .rules
        .remove(&arn)
        .map(|r| r.targets)
        .unwrap_or_default();
    let rule = Rule {
        name,
        arn: arn.clone(),
        event_pattern: text,
        pattern: parsed,
        state: rule_state,
        description: input.description,
        event_bus_name: "default".into(),
        targets,
    };
    state.data.events.rules.insert(arn.clone(), rule);
    json(json!({ "RuleArn": arn }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NameInput {
    name: Option<String>,
    event_bus_name: Option<String>,
}

fn describe_rule(state: &mut State, call: &Call) -> OpResult {
    let input: NameInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    let rule = rule_mut(state, call, input.name.as_deref())?;
    let mut out = json!({
        "Name": rule.name, "Arn": rule.arn, "EventPattern": rule.event_pattern,
        "State": rule.state, "EventBusName": rule.event_bus_name,
    });
    if let Some(description) = &rule.description {
        out["Description"] = json!(description);
    }
    json(out)
}

fn delete_rule(state: &mut State, call: &Call) -> OpResult {
    let input: NameInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    let Some(name) = input.name else {
        return Err(ApiError::validation("Rule name is required"));
    };
    let arn = rule_arn(call, &name);
    // Deleting a rule that does not exist succeeds.
    if let Some(rule) = state.data.events.rules.get(&arn) {
        if !rule.targets.is_empty() {
            return Err(ApiError::validation(
                "Rule can't be deleted since it has targets.",
            ));
        }
        state.data.events.rules.remove(&arn);
    }
    json(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRulesInput {
    name_prefix: Option<String>,
}

fn list_rules(state: &mut State, call: &Call) -> OpResult {
    let input: ListRulesInput = input(call)?;
    let prefix = rule_arn(call, input.name_prefix.as_deref().unwrap_or_default());
    let rules: Vec<Value> = state
        .data
        .events
        .rules
        .range(prefix.clone()..)
        .take_while(|(arn, _)| arn.starts_with(&prefix))
        .map(|(_, r)| json!({ "Name": r.name, "Arn": r.arn, "EventPattern": r.event_pattern, "State": r.state, "EventBusName": r.event_bus_name }))
        .collect();
    json(json!({ "Rules": rules }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
    #[serde(default)]
    targets: Vec<Target>,
}

fn put_targets(state: &mut State, call: &Call) -> OpResult {
    let input: PutTargetsInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    if input.targets.is_empty() || input.targets.len() > 10 {
        return Err(ApiError::validation("Targets must contain 1 to 10 items"));
    }
    let rule = rule_mut(state, call, input.rule.as_deref())?;
    let mut failed = Vec::new();
    for target in input.targets {
        if target.arn.starts_with("arn:aws:sqs:") {
            rule.targets.insert(target.id.clone(), target);
        } else {
            failed.push(json!({
                "TargetId": target.id, "ErrorCode": "ValidationException",
                "ErrorMessage": "The simulator delivers to SQS targets only.",
            }));
        }
    }
    if rule.targets.len() > 5 {
        return Err(ApiError::new(
            "LimitExceededException",
            "The requested resource exceeds the maximum number allowed (5 targets per rule).",
        ));
    }
    json(json!({ "FailedEntryCount": failed.len(), "FailedEntries": failed }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RemoveTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
    #[serde(default)]
    ids: Vec<String>,
}

fn remove_targets(state: &mut State, call: &Call) -> OpResult {
    let input: RemoveTargetsInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    let rule = rule_mut(state, call, input.rule.as_deref())?;
    for id in &input.ids {
        rule.targets.remove(id);
    }
    json(json!({ "FailedEntryCount": 0, "FailedEntries": [] }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListTargetsInput {
    rule: Option<String>,
    event_bus_name: Option<String>,
}

fn list_targets(state: &mut State, call: &Call) -> OpResult {
    let input: ListTargetsInput = input(call)?;
    check_bus(input.event_bus_name.as_deref())?;
    let rule = rule_mut(state, call, input.rule.as_deref())?;
    let targets: Vec<&Target> = rule.targets.values().collect();
    json(json!({ "Targets": targets }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    source: Option<String>,
    detail_type: Option<String>,
    detail: Option<String>,
    #[serde(default)]
    resources: Vec<String>,
    event_bus_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutEventsInput {
    #[serde(default)]
    entries: Vec<Entry>,
}

/// Routes 1–10 entries straight to the rules (no chaos: this is a caller's call, not IVS).
fn put_events(state: &mut State, call: &Call) -> OpResult {
    let input: PutEventsInput = input(call)?;
    if input.entries.is_empty() || input.entries.len() > 10 {
        return Err(ApiError::validation("Entries must contain 1 to 10 items"));
    }
    let mut results = Vec::new();
    let mut failed = 0;
    for entry in input.entries {
        match checked_event(call, entry) {
            Ok(event) => {
                results.push(json!({ "EventId": event["id"] }));
                bus::deliver(&mut state.data, &event);
            }
            Err(message) => {
                failed += 1;
                results.push(json!({ "ErrorCode": "InvalidArgument", "ErrorMessage": message }));
            }
        }
    }
    json(json!({ "FailedEntryCount": failed, "Entries": results }))
}

fn checked_event(call: &Call, entry: Entry) -> Result<Value, String> {
    check_bus(entry.event_bus_name.as_deref()).map_err(|e| e.message)?;
    let source = entry
        .source
        .filter(|s| !s.is_empty())
        .ok_or("Parameter Source is not valid.")?;
    let detail_type = entry
        .detail_type
        .filter(|s| !s.is_empty())
        .ok_or("Parameter DetailType is not valid.")?;
    let detail: Value = entry
        .detail
        .as_deref()
        .and_then(|d| serde_json::from_str(d).ok())
        .filter(Value::is_object)
        .ok_or("Parameter Detail is not valid.")?;
    Ok(envelope(
        &call.scope,
        &source,
        &detail_type,
        entry.resources,
        detail,
    ))
}

/// Fills in what an injected event (`POST /_sim/events/emit`) leaves out.
pub fn complete(scope: &crate::ids::Scope, mut event: Value) -> Value {
    let defaults = envelope(
        scope,
        event["source"].as_str().unwrap_or("aws.ivs"),
        event["detail-type"].as_str().unwrap_or_default(),
        Vec::new(),
        json!({}),
    );
    let (Some(out), Value::Object(base)) = (event.as_object_mut(), defaults) else {
        return event;
    };
    for (key, value) in base {
        out.entry(key).or_insert(value);
    }
    event
}
