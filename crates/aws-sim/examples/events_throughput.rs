//! Throughput of the simulated event path: fake broadcasts on `channels` channels start and stop
//! as fast as they can (4 IVS events each cycle, routed by a `{"source":["aws.ivs"]}` rule to one
//! SQS queue) while `consumers` tasks long-poll the queue through the real `aws-sdk-sqs`
//! (ReceiveMessage of 10, DeleteMessageBatch). Prints events emitted and consumed per second and
//! the p50/p95 time from enqueue (`SentTimestamp`) to receive.
//!
//! `cargo run -p aws-sim --example events_throughput [--release] -- [consumers] [seconds] [channels] [events/s]`
//! (events/s 0, the default: as fast as the producer can).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sim::{BroadcastSpec, SimConfig};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let consumers: usize = args.next().map_or(Ok(4), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let channels: usize = args.next().map_or(Ok(50), |a| a.parse())?;
    let rate: f64 = args.next().map_or(Ok(0.0), |a| a.parse())?;
    // One start/stop cycle emits 4 events.
    let pause = if rate > 0.0 {
        Duration::from_secs_f64(4.0 / rate)
    } else {
        Duration::from_micros(200)
    };
    let running = aws_sim::spawn(SimConfig::for_tests()).await?;
    let endpoint = running.endpoint();
    let credentials = Credentials::new("a", "b", None, None, "bench");
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(credentials.clone())
            .endpoint_url(&endpoint)
            .build(),
    );
    let url = setup(&endpoint, &sqs, credentials).await?;
    let sim = running.simulator.clone();
    let mut arns = Vec::new();
    for i in 0..channels {
        arns.push(create_channel(&endpoint, i).await?);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let consumed = Arc::new(AtomicU64::new(0));
    let lags = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..consumers)
        .map(|_| {
            let (sqs, url, stop, consumed, lags) = (
                sqs.clone(),
                url.clone(),
                stop.clone(),
                consumed.clone(),
                lags.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(got) = sqs
                        .receive_message()
                        .queue_url(&url)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    let now = chrono::Utc::now().timestamp_millis();
                    let mut entries = Vec::new();
                    for (i, message) in got.messages().iter().enumerate() {
                        let sent = message
                            .attributes()
                            .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                            .and_then(|t| t.parse::<i64>().ok())
                            .unwrap_or(now);
                        lags.lock().await.push(now - sent);
                        let handle = message.receipt_handle().unwrap_or_default();
                        entries.push(
                            DeleteMessageBatchRequestEntry::builder()
                                .id(format!("m{i}"))
                                .receipt_handle(handle)
                                .build()
                                .expect("entry"),
                        );
                    }
                    if !entries.is_empty() {
                        consumed.fetch_add(entries.len() as u64, Ordering::Relaxed);
                        let _ = sqs
                            .delete_message_batch()
                            .queue_url(&url)
                            .set_entries(Some(entries))
                            .send()
                            .await;
                    }
                }
            })
        })
        .collect();

    let producer = {
        let stop = stop.clone();
        tokio::task::spawn_blocking(move || {
            let mut cycles = 0u64;
            let started = std::time::Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let arn = &arns[(cycles as usize) % arns.len()];
                let _ = sim.start_broadcast(BroadcastSpec::new(arn));
                sim.stop_broadcast(arn);
                cycles += 1;
                // Paced against the clock, so the work of a cycle does not slow the rate.
                let due = started + pause.mul_f64(cycles as f64);
                std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
            }
            cycles
        })
    };
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let cycles = producer.await?;
    for task in tasks {
        task.await?;
    }
    let emitted = cycles * 4;
    let consumed = consumed.load(Ordering::Relaxed);
    let mut lags = lags.lock().await.clone();
    lags.sort_unstable();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 * p) as usize).min(lags.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{consumers} consumers, {seconds}s: emitted {emitted} events ({:.0}/s), consumed {consumed} ({:.0}/s), enqueue→receive p50 {} ms, p95 {} ms",
        emitted as f64 / seconds as f64,
        consumed as f64 / seconds as f64,
        pct(0.5),
        pct(0.95)
    );
    running.shutdown().await;
    Ok(())
}

/// The queue with a policy for EventBridge and the rule targeting it; returns the queue URL.
async fn setup(
    endpoint: &str,
    sqs: &aws_sdk_sqs::Client,
    credentials: Credentials,
) -> anyhow::Result<String> {
    let url = sqs
        .create_queue()
        .queue_name("bench")
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let arn = "arn:aws:sqs:us-east-1:123456789012:bench";
    let policy = serde_json::json!({ "Statement": [{ "Effect": "Allow", "Principal": { "Service": "events.amazonaws.com" }, "Action": "sqs:SendMessage", "Resource": arn }] });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await?;
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
            .credentials_provider(credentials)
            .endpoint_url(endpoint)
            .build(),
    );
    events
        .put_rule()
        .name("bench")
        .event_pattern(r#"{"source":["aws.ivs"]}"#)
        .send()
        .await?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("q")
        .arn(arn)
        .build()?;
    events
        .put_targets()
        .rule("bench")
        .targets(target)
        .send()
        .await?;
    Ok(url)
}

async fn create_channel(endpoint: &str, i: usize) -> anyhow::Result<String> {
    let ivs = aws_sdk_ivs::Client::from_conf(
        aws_sdk_ivs::Config::builder()
            .behavior_version(aws_sdk_ivs::config::BehaviorVersion::latest())
            .region(aws_sdk_ivs::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_ivs::config::Credentials::new(
                "a", "b", None, None, "bench",
            ))
            .endpoint_url(endpoint)
            .build(),
    );
    let created = ivs
        .create_channel()
        .name(format!("bench-{i}"))
        .send()
        .await?;
    Ok(created.channel.and_then(|c| c.arn).unwrap_or_default())
}
