//! How IVS's events reach the service: the EventBridge rule's pattern, the SQS queue policy that
//! lets that rule (and only it) send to the queue, and what of a rejected message may be kept.
//! Pure: `events setup` and the intake engine do the calls (docs/aws-facts.md §12f, §13a).

use serde_json::{Value, json};

use super::ivs_event::DetailType;

/// The rule `events setup` creates unless told another name.
pub const DEFAULT_RULE_NAME: &str = "ivs-provisioner-events";
/// The id of the rule's SQS target.
pub const TARGET_ID: &str = "ivs-provisioner-queue";
/// The `Sid` of the queue policy statement `events setup` owns; other statements are kept.
pub const POLICY_SID: &str = "IvsProvisionerEventBridge";

/// The rule's event pattern: IVS's channel events. The detail types are listed because
/// `aws.ivs` also emits real-time stage and composition events the service does not track.
pub fn event_pattern() -> Value {
    let types: Vec<&str> = DetailType::ALL.iter().map(|t| t.as_str()).collect();
    json!({"source": ["aws.ivs"], "detail-type": types})
}

/// The queue's `Policy` attribute with the statement that lets EventBridge send for `rule_arn`,
/// replacing an earlier one of ours and keeping everyone else's (SetQueueAttributes replaces the
/// whole policy). `existing` is the current attribute, if any.
pub fn queue_policy(existing: Option<&str>, queue_arn: &str, rule_arn: &str) -> Value {
    let statement = json!({
        "Sid": POLICY_SID,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    });
    let mut policy = existing
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({"Version": "2012-10-17"}));
    let mut statements: Vec<Value> = match policy["Statement"].take() {
        Value::Array(all) => all,
        Value::Object(one) => vec![Value::Object(one)],
        _ => vec![],
    };
    statements.retain(|s| s["Sid"] != POLICY_SID);
    statements.push(statement);
    policy["Statement"] = Value::Array(statements);
    policy
}

/// Whether `policy` already holds exactly the statement [`queue_policy`] would write.
pub fn policy_allows(policy: Option<&str>, queue_arn: &str, rule_arn: &str) -> bool {
    let Some(current) = policy.and_then(|p| serde_json::from_str::<Value>(p).ok()) else {
        return false;
    };
    let wanted = queue_policy(Some(&current.to_string()), queue_arn, rule_arn);
    let ours = |p: &Value| {
        p["Statement"]
            .as_array()
            .and_then(|all| all.iter().find(|s| s["Sid"] == POLICY_SID).cloned())
    };
    ours(&current).is_some() && ours(&current) == ours(&wanted)
}

/// Most characters of a rejected message kept for people to look at.
pub const MAX_KEPT_CHARS: usize = 8192;

/// A rejected message's body as it may be kept: cut to [`MAX_KEPT_CHARS`], and every word that
/// looks like a secret the service knows of (an IVS stream key `sk_…`, an API key `ivsp_…`, a
/// webhook secret `whsec_…`, a PEM private key) replaced by `[redacted]`. A queue only EventBridge
/// may write to should never carry one, but a rejected message is by definition unexpected.
pub fn redact_secrets(body: &str) -> String {
    const PREFIXES: [&str; 3] = ["sk_", "ivsp_", "whsec_"];
    let body: String = body.chars().take(MAX_KEPT_CHARS).collect();
    let body = redact_pem(&body);
    let mut out = String::with_capacity(body.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if PREFIXES.iter().any(|p| word.starts_with(p)) {
            out.push_str("[redacted]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in body.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '+' || c == '/' || c == '=' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

fn redact_pem(body: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    let mut out = String::new();
    let mut rest = body;
    while let Some(begin) = rest.find(BEGIN) {
        let label_start = begin + BEGIN.len();
        let label_end = rest[label_start..].find("-----").map(|i| label_start + i);
        let private = label_end.is_some_and(|end| rest[label_start..end].ends_with("PRIVATE KEY"));
        if !private {
            out.push_str(&rest[..label_start]);
            rest = &rest[label_start..];
            continue;
        }
        out.push_str(&rest[..begin]);
        out.push_str("[redacted]");
        // Through the END line's closing dashes, or to the end of the body.
        let after = &rest[label_start..];
        rest = after
            .find("-----END ")
            .and_then(|end| after[end..].find("KEY-----").map(|k| &after[end + k + 8..]))
            .unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_statement_is_ours_alone_and_others_are_kept() {
        let queue = "arn:aws:sqs:us-east-1:123456789012:ivs-events";
        let rule = "arn:aws:events:us-east-1:123456789012:rule/ivs-provisioner-events";
        let fresh = queue_policy(None, queue, rule);
        assert_eq!(fresh["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            fresh["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
            rule
        );
        let other =
            json!({"Version": "2012-10-17", "Statement": [{"Sid": "Theirs", "Effect": "Allow"}]});
        let merged = queue_policy(Some(&other.to_string()), queue, rule);
        assert_eq!(merged["Statement"].as_array().unwrap().len(), 2);
        // Writing it again replaces ours instead of adding a copy.
        let again = queue_policy(Some(&merged.to_string()), queue, rule);
        assert_eq!(again, merged);
        assert!(policy_allows(Some(&merged.to_string()), queue, rule));
        assert!(!policy_allows(Some(&other.to_string()), queue, rule));
        assert!(!policy_allows(None, queue, rule));
    }

    #[test]
    fn the_pattern_names_every_tracked_detail_type() {
        let pattern = event_pattern();
        assert_eq!(pattern["source"], json!(["aws.ivs"]));
        assert_eq!(pattern["detail-type"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn secrets_are_redacted_from_kept_bodies() {
        let body = r#"{"key":"sk_us-east-1_abcDEF123","api":"ivsp_xyz","ok":"st-123",
            "pem":"-----BEGIN PRIVATE KEY-----\nMIGkAgEB\n-----END PRIVATE KEY-----","w":"whsec_AAA="}"#;
        let kept = redact_secrets(body);
        for secret in ["sk_us", "ivsp_xyz", "MIGkAgEB", "whsec_AAA"] {
            assert!(!kept.contains(secret), "{secret} in {kept}");
        }
        assert!(kept.contains("st-123"));
        assert_eq!(redact_secrets(&"a".repeat(10_000)).len(), MAX_KEPT_CHARS);
        let public = "-----BEGIN PUBLIC KEY-----\nMHYw\n-----END PUBLIC KEY-----";
        assert_eq!(redact_secrets(public), public);
    }
}

/// Whether a rule's stored pattern is [`event_pattern`] (compared as JSON, not as text).
pub fn is_our_pattern(stored: Option<&str>) -> bool {
    stored
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .is_some_and(|p| p == event_pattern())
}
