//! The default event bus at work: building an event envelope, the chaos applied to events AWS
//! services emit (drop, duplicate, hold back for reordering, delay; one seeded RNG), and routing an
//! event through the enabled rules whose pattern matches to their SQS targets.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::pattern;
use crate::ids::Scope;
use crate::model::Data;
use crate::model::events::EventFaults;
use crate::sqs;

/// An EventBridge event as delivered: version, id, detail-type, source, account, time, region,
/// resources, detail.
pub fn envelope(
    scope: &Scope,
    source: &str,
    detail_type: &str,
    resources: Vec<String>,
    detail: Value,
) -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": scope.account,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": scope.region,
        "resources": resources,
        "detail": detail,
    })
}

/// Replaces the chaos settings (re-seeding the dice) and releases what the old ones held.
pub fn set_faults(data: &mut Data, faults: EventFaults) {
    data.events.rng = StdRng::seed_from_u64(faults.seed);
    data.events.faults = faults;
    flush(data);
}

/// Delivers every held and delayed event now.
pub fn flush(data: &mut Data) {
    let held = std::mem::take(&mut data.events.held);
    let delayed = std::mem::take(&mut data.events.delayed);
    for event in held.into_iter().chain(delayed.into_iter().map(|(_, e)| e)) {
        deliver(data, &event);
    }
}

/// Delivers the delayed events due at `now`.
pub fn release_due(data: &mut Data, now: Instant) {
    if data.events.delayed.is_empty() {
        return;
    }
    let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut data.events.delayed)
        .into_iter()
        .partition(|(at, _)| *at <= now);
    data.events.delayed = later;
    for (_, event) in due {
        deliver(data, &event);
    }
}

/// Emits events from an AWS service through the chaos settings. Events held back by an earlier
/// call are released after this batch, so they arrive out of order.
pub fn publish(data: &mut Data, events: Vec<Value>) {
    let released = std::mem::take(&mut data.events.held);
    let faults = data.events.faults.clone();
    for event in events {
        let rng = &mut data.events.rng;
        if rng.gen_bool(faults.drop_rate.clamp(0.0, 1.0)) {
            log(data, &event, "dropped", &[]);
            continue;
        }
        let copies = if data
            .events
            .rng
            .gen_bool(faults.duplicate_rate.clamp(0.0, 1.0))
        {
            log(data, &event, "duplicated", &[]);
            2
        } else {
            1
        };
        for _ in 0..copies {
            route(data, &faults, event.clone());
        }
    }
    for event in released {
        deliver(data, &event);
    }
}

fn route(data: &mut Data, faults: &EventFaults, event: Value) {
    if faults.reorder && data.events.rng.gen_bool(0.5) {
        log(data, &event, "held", &[]);
        data.events.held.push(event);
    } else if faults.delay_ms > 0 {
        log(data, &event, "delayed", &[]);
        let due = Instant::now() + Duration::from_millis(faults.delay_ms);
        data.events.delayed.push((due, event));
    } else {
        deliver(data, &event);
    }
}

/// Sends `event` to the SQS targets of every enabled rule in its region whose pattern matches it.
/// A target whose queue policy refuses EventBridge, or that no longer exists, is a failed
/// invocation (EventBridge drops it).
pub fn deliver(data: &mut Data, event: &Value) {
    let region = event["region"].as_str().unwrap_or_default();
    let rule_prefix = format!("arn:aws:events:{region}:");
    let mut sends = Vec::new();
    for rule in data.events.rules.values() {
        let live = rule.state == "ENABLED" && rule.arn.starts_with(&rule_prefix);
        if !live || !pattern::matches(&rule.pattern, event) {
            continue;
        }
        for target in rule.targets.values() {
            let body = target.input.clone().unwrap_or_else(|| event.to_string());
            sends.push((rule.arn.clone(), target.arn.clone(), body));
        }
    }
    let mut reached = Vec::new();
    for (rule_arn, queue_arn, body) in sends {
        let policy = data
            .queues
            .get(&queue_arn)
            .and_then(|q| q.attributes.get("Policy"))
            .map(String::as_str);
        if sqs::allows_events(policy, &rule_arn) && sqs::enqueue(&mut data.queues, &queue_arn, body)
        {
            reached.push(queue_arn);
        } else {
            data.events.failed_invocations += 1;
        }
    }
    log(data, event, "delivered", &reached);
}

/// How many fates the log keeps (the oldest tenth goes when full): a test's story, bounded for
/// dev mode.
const LOG_LIMIT: usize = 10_000;

fn log(data: &mut Data, event: &Value, fate: &str, queues: &[String]) {
    if data.events.log.len() >= LOG_LIMIT {
        data.events.log.drain(..LOG_LIMIT / 10);
    }
    let detail = &event["detail"];
    let name = ["event_name", "recording_status", "limit_name"]
        .iter()
        .find_map(|key| detail[*key].as_str())
        .unwrap_or_default();
    data.events.log.push(json!({
        "id": event["id"],
        "detailType": event["detail-type"],
        "name": name,
        "streamId": detail["stream_id"],
        "fate": fate,
        "queues": queues,
    }));
}
