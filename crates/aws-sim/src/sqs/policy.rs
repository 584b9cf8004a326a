//! The one queue-policy question the simulator asks: may EventBridge (`events.amazonaws.com`)
//! `sqs:SendMessage` to this queue for this rule? AWS drops deliveries the policy refuses.

use serde_json::Value;

/// True when a statement of `policy` allows the EventBridge service principal to send, and its
/// `aws:SourceArn` condition (if any) names `rule_arn` (`ArnLike` patterns may use `*`).
pub fn allows_events(policy: Option<&str>, rule_arn: &str) -> bool {
    let Some(policy) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return false;
    };
    let statements = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && principal_ok(&s["Principal"])
            && any_str(&s["Action"], |a| {
                matches!(a, "*" | "sqs:*" | "sqs:SendMessage" | "SQS:SendMessage")
            })
            && source_ok(&s["Condition"], rule_arn)
    })
}

fn principal_ok(principal: &Value) -> bool {
    principal == "*"
        || any_str(&principal["Service"], |p| p == "events.amazonaws.com")
        || any_str(&principal["AWS"], |p| p == "*")
}

fn source_ok(condition: &Value, rule_arn: &str) -> bool {
    let Some(operators) = condition.as_object() else {
        return true;
    };
    operators
        .values()
        .all(|keys| match keys.get("aws:SourceArn") {
            None => true,
            Some(allowed) => any_str(allowed, |arn| glob(arn, rule_arn)),
        })
}

fn any_str(value: &Value, ok: impl Fn(&str) -> bool) -> bool {
    match value {
        Value::String(s) => ok(s),
        Value::Array(items) => items.iter().filter_map(Value::as_str).any(ok),
        _ => false,
    }
}

/// `pattern` with `*` wildcards matches `text`.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "arn:aws:events:us-east-1:123456789012:rule/ivs";

    #[test]
    fn events_principal_with_and_without_source_condition() {
        let open = r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"*"}]}"#;
        assert!(allows_events(Some(open), RULE));
        let bound = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":["events.amazonaws.com"]},"Action":["sqs:SendMessage"],"Condition":{"ArnEquals":{"aws:SourceArn":"arn:aws:events:us-east-1:123456789012:rule/other"}}}}"#;
        assert!(!allows_events(Some(bound), RULE));
        let like = r#"{"Statement":{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":"sqs:*","Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:events:*:123456789012:rule/*"}}}}"#;
        assert!(allows_events(Some(like), RULE));
        assert!(!allows_events(None, RULE));
        let deny = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"}]}"#;
        assert!(!allows_events(Some(deny), RULE));
    }
}
