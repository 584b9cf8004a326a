//! Prometheus metrics: the recorder and the names the service records.
//!
//! Recorded where they happen: HTTP requests by route, status and latency (the API's
//! middleware); reconcile attempts, outcomes and durations (the reconciler); AWS calls by
//! operation and outcome, throttles included (an SDK interceptor in the AWS facade); tokens
//! minted. Gauges that describe the database (channels by phase, rows waiting) are read when
//! `/metrics` is scraped.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "http_requests_total";
pub const HTTP_DURATION: &str = "http_request_duration_seconds";
pub const RECONCILE_ATTEMPTS: &str = "reconcile_attempts_total";
pub const RECONCILE_DURATION: &str = "reconcile_duration_seconds";
pub const AWS_CALLS: &str = "aws_calls_total";
pub const TOKENS_MINTED: &str = "playback_tokens_minted_total";
pub const CHAT_TOKENS_MINTED: &str = "chat_tokens_minted_total";
pub const CHANNELS: &str = "channels";
pub const ROWS_WAITING: &str = "reconciler_rows_waiting";
pub const WEBHOOK_ATTEMPTS: &str = "webhook_attempts_total";
pub const WEBHOOK_ATTEMPT_DURATION: &str = "webhook_attempt_duration_seconds";
pub const WEBHOOK_DELIVERIES: &str = "webhook_deliveries_total";
/// From the state change (the outbox row) to the 2xx of the endpoint.
pub const WEBHOOK_DELIVERY_LAG: &str = "webhook_delivery_lag_seconds";
pub const WEBHOOK_ENDPOINTS_DISABLED: &str = "webhook_endpoints_disabled_total";
pub const WEBHOOK_PENDING: &str = "webhook_deliveries_pending";
pub const WEBHOOK_OLDEST_PENDING: &str = "webhook_oldest_pending_seconds";
pub const WEBHOOK_DISABLED_ENDPOINTS: &str = "webhook_endpoints_disabled";

/// IVS events taken from the queue, by `type` (stream_state, stream_health, recording_state,
/// limit_breach, unknown) and `outcome` (applied, duplicate, unknown_channel, ignored, malformed).
pub const IVS_EVENTS_RECEIVED: &str = "ivs_events_received_total";
/// From the event's `time` (IVS) to its effect committed: how late facts arrive.
pub const IVS_EVENTS_LAG: &str = "ivs_events_lag_seconds";
/// Receives or deletes that failed (SQS unreachable, throttled, access denied).
pub const IVS_EVENTS_QUEUE_ERRORS: &str = "ivs_events_queue_errors_total";
/// Facts the gap-filling sweep recorded (IVS or S3 knew something the facts lacked), by `kind`
/// (session, recording).
pub const IVS_SWEEP_FINDINGS: &str = "ivs_sweep_findings_total";

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the recorder's upkeep runs whether or not anyone scrapes `/metrics`.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder once (later calls reuse it) and returns its handle.
///
/// The recorder keeps every histogram sample until its upkeep folds them into the buckets;
/// rendering does that too, but a service nobody scrapes would grow by each request's samples
/// forever. So the upkeep runs every [`UPKEEP_INTERVAL`] on a thread of its own, started here:
/// not a task, because the recorder outlives any one runtime (tests start many).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test harness) may already be installed; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let started = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_INTERVAL);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = started {
                tracing::warn!(error = %e, "cannot start the metrics upkeep thread; histograms are folded only when /metrics is scraped");
            }
            handle
        })
        .clone()
}

/// Throttled AWS calls this process saw, per minute, over the last hour: what the console's
/// overview shows (counters in the Prometheus registry cannot say "in the last hour").
static THROTTLES: std::sync::Mutex<[(u64, u64); 60]> = std::sync::Mutex::new([(0, 0); 60]);

fn minute_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60)
}

/// Counts one throttled AWS call (the AWS facade's interceptor calls it).
pub fn record_throttle() {
    let minute = minute_now();
    let mut window = THROTTLES.lock().unwrap_or_else(|e| e.into_inner());
    let slot = &mut window[(minute % 60) as usize];
    if slot.0 != minute {
        *slot = (minute, 0);
    }
    slot.1 += 1;
}

/// Throttled AWS calls this process saw in the last 60 minutes.
pub fn throttles_last_hour() -> u64 {
    let now = minute_now();
    let window = THROTTLES.lock().unwrap_or_else(|e| e.into_inner());
    window
        .iter()
        .filter(|(minute, _)| now.saturating_sub(*minute) < 60)
        .map(|(_, count)| count)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_count_within_the_hour_window() {
        let before = throttles_last_hour();
        record_throttle();
        record_throttle();
        // Other tests in this process may record throttles too: at least ours are counted.
        assert!(throttles_last_hour() >= before + 2);
    }
}
