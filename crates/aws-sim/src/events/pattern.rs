//! EventBridge event-pattern matching, the subset IVS rules use: every pattern key must be in the
//! event; a list matches when the event's value (or any element of an event list) equals one of
//! its values or satisfies one of its `prefix` / `anything-but` / `exists` filters; an object
//! recurses into the event's object (`detail`).

use serde_json::Value;

/// True when `event` matches `pattern` (both parsed JSON).
pub fn matches(pattern: &Value, event: &Value) -> bool {
    let Some(fields) = pattern.as_object() else {
        return false;
    };
    fields.iter().all(|(key, rule)| {
        let value = event.get(key);
        match rule {
            Value::Object(_) => value.is_some_and(|v| v.is_object() && matches(rule, v)),
            Value::Array(options) => options.iter().any(|option| accepts(option, value)),
            _ => false,
        }
    })
}

/// One list entry of a pattern against the event's value (absent = None).
fn accepts(option: &Value, value: Option<&Value>) -> bool {
    if let Some(exists) = option.get("exists").and_then(Value::as_bool) {
        return value.is_some() == exists;
    }
    let Some(value) = value else {
        return false;
    };
    if let Value::Array(items) = value {
        return items.iter().any(|item| accepts(option, Some(item)));
    }
    match option {
        Value::Object(filter) => {
            if let Some(prefix) = filter.get("prefix").and_then(Value::as_str) {
                return value.as_str().is_some_and(|s| s.starts_with(prefix));
            }
            if let Some(excluded) = filter.get("anything-but") {
                return match excluded {
                    Value::Array(list) => !list.contains(value),
                    one => one != value,
                };
            }
            false
        }
        scalar => scalar == value,
    }
}

/// Checks a pattern's shape the way PutRule does: a JSON object whose leaves are lists.
pub fn valid(pattern: &Value) -> bool {
    pattern.as_object().is_some_and(|fields| {
        !fields.is_empty()
            && fields.values().all(|rule| match rule {
                Value::Object(_) => valid(rule),
                Value::Array(_) => true,
                _ => false,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ivs_rules() {
        let event = json!({
            "source": "aws.ivs", "detail-type": "IVS Stream State Change",
            "resources": ["arn:aws:ivs:us-east-1:1:channel/a"],
            "detail": { "event_name": "Stream Start", "stream_id": "st-1" },
        });
        assert!(matches(&json!({"source": ["aws.ivs"]}), &event));
        assert!(matches(
            &json!({"detail-type": ["IVS Recording State Change", "IVS Stream State Change"]}),
            &event
        ));
        assert!(!matches(&json!({"source": ["aws.s3"]}), &event));
        assert!(matches(
            &json!({"detail": {"event_name": ["Stream Start"]}}),
            &event
        ));
        assert!(!matches(
            &json!({"detail": {"event_name": ["Stream End"]}}),
            &event
        ));
        assert!(matches(
            &json!({"resources": [{"prefix": "arn:aws:ivs:"}]}),
            &event
        ));
        assert!(matches(
            &json!({"detail": {"code": [{"exists": false}]}}),
            &event
        ));
        assert!(matches(
            &json!({"detail": {"event_name": [{"anything-but": ["Stream End"]}]}}),
            &event
        ));
        assert!(!matches(&json!({"detail": {"missing": ["x"]}}), &event));
        assert!(valid(&json!({"source": ["aws.ivs"], "detail": {"a": [1]}})));
        assert!(!valid(&json!({"source": "aws.ivs"})));
        assert!(!valid(&json!([1])));
    }
}
